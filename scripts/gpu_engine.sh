#!/usr/bin/env bash
# The engine on one H200 in one call (no network): engine tests on CUDA, bf16 token agreement
# with HF (vLLM-style) on a random Qwen3-0.6B-shaped model (and SmolLM2 when carried), then
# `dojo engine bench` on the nano-vllm workload. Everything lands in $OUT/h200_engine.json.
# Usage: scripts/gpu_engine.sh [SMOLLM2_DIR]
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SMOL=${1:-}
MODEL=/tmp/qwen3_06b_random
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c 'import torch, triton, transformers as t; print(torch.__version__, triton.__version__, t.__version__)'
} 2>&1 | tee "$OUT/env.txt"

timeout 240 python3 -m pytest tests/engine -q -n 8 -p no:cacheprovider --hypothesis-profile=ci \
  2>&1 | tail -25 | tee "$OUT/pytest_engine.txt"

timeout 120 python3 scripts/gpu_engine.py make-qwen3 "$MODEL" 2>&1 | tail -3
timeout 150 python3 scripts/gpu_engine.py agreement "$MODEL" "$OUT/agreement_qwen3.json" 2>&1 | tail -5
if [ -n "$SMOL" ] && [ -f "$SMOL/config.json" ]; then
  timeout 90 python3 scripts/gpu_engine.py agreement "$SMOL" "$OUT/agreement_smollm2.json" 2>&1 | tail -5
  timeout 60 python3 -m grader engine run "The capital of France is" --model "$SMOL" --max-tokens 32 \
    2>&1 | tee "$OUT/run_smollm2.txt"
  timeout 60 python3 -m grader engine run --chat "Explain RMSNorm in one sentence." --model "$SMOL" \
    --max-tokens 64 2>&1 | tee -a "$OUT/run_smollm2.txt"
fi

timeout 330 python3 -m grader engine bench --model "$MODEL" --json > "$OUT/bench_qwen3.json" \
  2> "$OUT/bench_qwen3.err"; tail -3 "$OUT/bench_qwen3.err"

python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(name):
    p = out / name
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as e:
        return {"missing": f"{name}: {e}"}
result = {
    "env": (out / "env.txt").read_text().strip().splitlines() if (out / "env.txt").exists() else [],
    "pytest_engine": (out / "pytest_engine.txt").read_text().strip().splitlines()[-1:]
        if (out / "pytest_engine.txt").exists() else [],
    "agreement_qwen3_0.6b_random": load("agreement_qwen3.json"),
    "agreement_smollm2": load("agreement_smollm2.json"),
    "bench_qwen3_0.6b_random": load("bench_qwen3.json"),
}
(out / "h200_engine.json").write_text(json.dumps(result, indent=1))
b = result["bench_qwen3_0.6b_random"]
if "engine" in b:
    print("engine tok/s", round(b["engine"]["output_tokens_per_s"]), "hf tok/s",
          round(b.get("hf", {}).get("output_tokens_per_s", 0)), "speedup",
          round(b.get("speedup_vs_hf", 0), 2), "bs1", b["bs1_decode"])
PY
