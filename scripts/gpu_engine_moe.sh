#!/usr/bin/env bash
# Expert parallelism on 2 H200s in one call (kind nvidia-h200-x2, no network): a random bf16
# Qwen3-MoE with Qwen3-30B-A3B's layer shape (8 of 48 layers, 128 experts, top-8, ~11 GB),
# the same seeded offline workload (128 requests, prompts of 64-512 tokens, 128 output tokens
# each) through the plain engine on one GPU (w1), through EP on 2 GPUs over NCCL (ep2: tokens/s,
# then a profiled run for the share of time inside all_to_all / all_gather), and through EP on
# one rank (ep1: the EP code path without a peer); `dojo engine run --ep 2` once (NCCL); then
# the MoE engine tests (CPU/gloo ones included). Results: $OUT/h200x2_engine_moe.json,
# rewritten after every stage; run_ep2.json, *.log, pytest_moe.txt beside it. ~5-8 minutes.
# Usage: scripts/gpu_engine_moe.sh            (CPU dry run: TINY=1 scripts/gpu_engine_moe.sh)
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1  # NVLink multicast stays off
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
MODEL=/tmp/qwen3_moe_random
TINY_FLAG=${TINY:+--tiny}
PY="python3 scripts/gpu_engine_moe.py"
RUN="python3 -m torch.distributed.run --standalone"
merge() { $PY merge "$OUT" $TINY_FLAG 2>&1 | tail -2; }
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  nvidia-smi topo -m
  python3 -c 'import torch, triton, transformers as t; print(torch.__version__, triton.__version__, t.__version__)'
} > "$OUT/env.txt" 2>&1; head -3 "$OUT/env.txt"

timeout 150 $PY make "$MODEL" $TINY_FLAG 2>&1 | tail -2
timeout 120 $PY w1 "$MODEL" "$OUT/w1.json" $TINY_FLAG > "$OUT/w1.log" 2>&1; tail -2 "$OUT/w1.log"
merge
timeout 180 $RUN --nproc-per-node 2 scripts/gpu_engine_moe.py ep "$MODEL" "$OUT/ep2.json" \
  $TINY_FLAG > "$OUT/ep2.log" 2>&1; tail -3 "$OUT/ep2.log"
merge
timeout 90 $RUN --nproc-per-node 1 scripts/gpu_engine_moe.py ep "$MODEL" "$OUT/ep1.json" \
  $TINY_FLAG > "$OUT/ep1.log" 2>&1; tail -2 "$OUT/ep1.log"
merge
timeout 90 python3 -m grader engine run "[1, 2, 3]" --model "$MODEL" --ep 2 --max-tokens 16 \
  --json > "$OUT/run_ep2.json" 2> "$OUT/run_ep2.err"; tail -c 300 "$OUT/run_ep2.json"; tail -1 "$OUT/run_ep2.err"
rm -rf "$MODEL"
timeout 100 python3 -m pytest tests/engine/test_moe.py -q -p no:cacheprovider \
  --hypothesis-profile=ci 2>&1 | tail -15 > "$OUT/pytest_moe.txt"; tail -3 "$OUT/pytest_moe.txt"
