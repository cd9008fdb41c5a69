#!/usr/bin/env bash
# Speculative decoding and the FP8 KV cache on one H200 in one call (no network, ~3-4 min):
# the spec/fp8 engine tests on CUDA (Triton fp8_quant and spec_decode solutions in the engine),
# then a random Llama-3.2-1B-shaped bf16 target with a 2-layer draft (its own first layers):
# bs=1 greedy decode plain vs draft / self-draft / n-gram (acceptance, tokens per step,
# end-to-end speedup), and bf16 vs fp8 KV at the same memory budget (pool, peak concurrent
# sequences, tokens/s). Results: $OUT/h200_engine_spec.json, rewritten after every stage.
# Usage: scripts/gpu_engine_spec.sh
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
MODELS=/tmp/spec_models
merge() { python3 scripts/gpu_engine_spec.py merge "$OUT"; }
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c 'import torch, triton, transformers as t; print(torch.__version__, triton.__version__, t.__version__)'
} 2>&1 | tee "$OUT/env.txt"

timeout 100 python3 -m pytest tests/engine/test_spec.py tests/engine/test_fp8_kv.py -q -n 8 \
  -p no:cacheprovider --hypothesis-profile=ci 2>&1 | tail -25 | tee "$OUT/pytest_spec_fp8.txt"; merge

timeout 60 python3 scripts/gpu_engine_spec.py make "$MODELS" 2>&1 | tail -3
timeout 90 python3 scripts/gpu_engine_spec.py spec "$MODELS" --out "$OUT/spec.json" 2>&1 \
  | tail -8 | tee "$OUT/spec.log"; merge
timeout 150 python3 scripts/gpu_engine_spec.py fp8 "$MODELS" --out "$OUT/fp8.json" \
  --budget-gb 3 --requests 192 2>&1 | tail -8 | tee "$OUT/fp8.log"; merge
python3 -c "
import json; r = json.load(open('$OUT/h200_engine_spec.json'))
s, f = r['speculative_bs1'], r['fp8_kv']
for k in ('draft', 'self_draft', 'ngram'):
    if k in s: print(k, {x: s[k].get(x) for x in ('acceptance_rate', 'tokens_per_step', 'speedup_vs_plain', 'tokens_identical_to_plain')})
print({k: v for k, v in f.items() if k.startswith('fp8_over')} or f)"
