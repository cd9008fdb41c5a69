#!/usr/bin/env bash
# The engine on one H200 in one call (no network). Stages, in this order:
#   pytest     engine tests on CUDA                                              ~2-2.5 min
#   agreement  bf16 token agreement with HF (vLLM-style) on a random Qwen3-0.6B-shaped model
#              (and SmolLM2 when its directory is given)                        ~1-1.5 min
#   chat       `dojo engine bench --workload chat` on that model: 32 conversations x 6 turns
#              sharing a 2048-token system prompt, prefix cache on vs off; then 8 x 3 turns in
#              float32, to see whether on and off agree without bf16 rounding   ~1-2 min
#   bench      `dojo engine bench` on the nano-vllm workload vs HF generate      ~2-4.5 min
#   8b         bs=1 decode of a random Llama-3-8B-shaped bf16 model (16 GB, drawn on the GPU)
#              against the HBM roofline, `dojo engine bench --workload bs1`      ~1.5-2.5 min
# STAGES picks them; the default is "pytest agreement chat bench" (~6-9 min, one device call):
# run 8b in a call of its own, `STAGES=8b scripts/gpu_engine.sh`, and fold its results into
# the first call's with `python3 scripts/gpu_engine.py merge DIR --into results/h200_engine.json`.
# Results: $OUT/h200_engine.json, rewritten after every stage so a run cut short still reports
# what it finished; each stage's own JSON beside it.
# Usage: scripts/gpu_engine.sh [SMOLLM2_DIR]     (CPU dry run on tiny shapes: TINY=1, seconds)
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SMOL=${1:-}
STAGES=" ${STAGES:-pytest agreement chat bench} "
[ -n "${SKIP_PYTEST:-}" ] && STAGES=${STAGES/ pytest / }  # the engine tests ran in another call
TINY_FLAG=${TINY:+--tiny}
MODEL=/tmp/qwen3_06b_random${TINY:+_tiny}
LLAMA=/tmp/llama3_8b_random${TINY:+_tiny}
if [ -n "${TINY:-}" ]; then
  STAGES=${STAGES/ pytest / }; TOKENS=8
  CHAT="--conversations 4 --turns 3 --system-len 40 --user-len 8 --answer-len 4"
  BENCH="--num-requests 4 --min-len 4 --max-len 12 --bs1-tokens 8"
else
  TOKENS=64; CHAT=""; BENCH=""
fi
has() { [[ $STAGES == *" $1 "* ]]; }
merge() { python3 scripts/gpu_engine.py merge "$OUT"; }
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c 'import torch, triton, transformers as t; print(torch.__version__, triton.__version__, t.__version__)'
} 2>&1 | tee "$OUT/env.txt"
echo "stages:$STAGES"

if has pytest; then
  timeout 150 python3 -m pytest tests/engine -q -n 8 -p no:cacheprovider --hypothesis-profile=ci \
    2>&1 | tail -25 | tee "$OUT/pytest_engine.txt"; merge
fi

if has agreement || has chat || has bench; then
  timeout 60 python3 scripts/gpu_engine.py make-qwen3 "$MODEL" $TINY_FLAG 2>&1 | tail -3
fi
if has agreement; then
  timeout 90 python3 scripts/gpu_engine.py agreement "$MODEL" "$OUT/agreement_qwen3.json" \
    --max-tokens $TOKENS 2>&1 | tail -3
  merge
  if [ -n "$SMOL" ] && [ -f "$SMOL/config.json" ]; then
    timeout 60 python3 scripts/gpu_engine.py agreement "$SMOL" "$OUT/agreement_smollm2.json" 2>&1 | tail -3
    timeout 30 python3 -m grader engine run "The capital of France is" --model "$SMOL" --max-tokens 32 \
      2>&1 | tee "$OUT/run_smollm2.txt"
    timeout 30 python3 -m grader engine run --chat "Explain RMSNorm in one sentence." --model "$SMOL" \
      --max-tokens 64 2>&1 | tee -a "$OUT/run_smollm2.txt"
    merge
  fi
fi

if has chat; then
  timeout 150 python3 -m grader engine bench --workload chat --model "$MODEL" $CHAT --json \
    > "$OUT/chat_qwen3.json" 2> "$OUT/chat_qwen3.err"; tail -3 "$OUT/chat_qwen3.err"; merge
  # the same shape, smaller, in float32: do on and off agree where bf16 rounding is out of it?
  timeout 90 python3 -m grader engine bench --workload chat --model "$MODEL" --dtype float32 \
    ${CHAT:---conversations 8 --turns 3 --system-len 512} --json \
    > "$OUT/chat_qwen3_fp32.json" 2> "$OUT/chat_qwen3_fp32.err"; tail -3 "$OUT/chat_qwen3_fp32.err"
  merge
fi

if has bench; then
  timeout 270 python3 -m grader engine bench --model "$MODEL" $BENCH --json > "$OUT/bench_qwen3.json" \
    2> "$OUT/bench_qwen3.err"; tail -3 "$OUT/bench_qwen3.err"; merge
fi

if has 8b; then
  df -h /tmp | tail -1
  timeout 150 python3 scripts/gpu_engine.py make-llama8b "$LLAMA" $TINY_FLAG 2>&1 | tail -3
  timeout 180 python3 -m grader engine bench --workload bs1 --model "$LLAMA" --bs1-tokens 256 --json \
    > "$OUT/bs1_llama8b.json" 2> "$OUT/bs1_llama8b.err"; tail -3 "$OUT/bs1_llama8b.err"; merge
  rm -rf "$LLAMA"
fi

python3 - "$OUT/h200_engine.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
pick = {"agreement_qwen3_0.6b_random": ("passed",),
        "chat_qwen3_0.6b_random": ("speedup", "greedy_equal", "answers_equal", "answers"),
        "chat_qwen3_0.6b_random_fp32": ("speedup", "greedy_equal", "answers_equal", "answers"),
        "bench_qwen3_0.6b_random": ("speedup_vs_hf", "bs1_decode"),
        "bs1_llama3_8b_random": ("load_seconds", "cuda_graphs", "bs1_decode")}
for key, fields in pick.items():
    v = r.get(key, {})
    print(key, v["missing"][:90] if "missing" in v else {f: v.get(f) for f in fields})
c = r.get("chat_qwen3_0.6b_random", {})
if "cache_on" in c:
    print("chat hit rate", c["cache_on"]["hit_rate"], "seconds on/off",
          c["cache_on"]["seconds"], c["cache_off"]["seconds"])
EOF
