#!/usr/bin/env bash
# The engine on one H200 in one call (no network): engine tests on CUDA, bf16 token agreement
# with HF (vLLM-style) on a random Qwen3-0.6B-shaped model (and SmolLM2 when carried), then
# `dojo engine bench` on the nano-vllm workload. Results: $OUT/h200_engine.json, rewritten
# after every stage so a run cut short still reports what it finished. ~6-8 minutes.
# Usage: scripts/gpu_engine.sh [SMOLLM2_DIR]
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SMOL=${1:-}
MODEL=/tmp/qwen3_06b_random
merge() { python3 scripts/gpu_engine.py merge "$OUT"; }
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c 'import torch, triton, transformers as t; print(torch.__version__, triton.__version__, t.__version__)'
} 2>&1 | tee "$OUT/env.txt"

if [ -z "${SKIP_PYTEST:-}" ]; then  # SKIP_PYTEST=1 when the engine tests ran in another call
  timeout 150 python3 -m pytest tests/engine -q -n 8 -p no:cacheprovider --hypothesis-profile=ci \
    2>&1 | tail -25 | tee "$OUT/pytest_engine.txt"; merge
fi

timeout 60 python3 scripts/gpu_engine.py make-qwen3 "$MODEL" 2>&1 | tail -3
timeout 90 python3 scripts/gpu_engine.py agreement "$MODEL" "$OUT/agreement_qwen3.json" 2>&1 | tail -3
merge
if [ -n "$SMOL" ] && [ -f "$SMOL/config.json" ]; then
  timeout 60 python3 scripts/gpu_engine.py agreement "$SMOL" "$OUT/agreement_smollm2.json" 2>&1 | tail -3
  timeout 30 python3 -m grader engine run "The capital of France is" --model "$SMOL" --max-tokens 32 \
    2>&1 | tee "$OUT/run_smollm2.txt"
  timeout 30 python3 -m grader engine run --chat "Explain RMSNorm in one sentence." --model "$SMOL" \
    --max-tokens 64 2>&1 | tee -a "$OUT/run_smollm2.txt"
  merge
fi

timeout 270 python3 -m grader engine bench --model "$MODEL" --json > "$OUT/bench_qwen3.json" \
  2> "$OUT/bench_qwen3.err"; tail -3 "$OUT/bench_qwen3.err"; merge
python3 -c "
import json; b = json.load(open('$OUT/h200_engine.json'))['bench_qwen3_0.6b_random']
print({k: b[k] for k in ('engine', 'hf', 'speedup_vs_hf', 'bs1_decode') if k in b} or b)"
