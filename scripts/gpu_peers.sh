#!/usr/bin/env bash
# One device call on one H200: `dojo bench <slug> --impl solution --peers --json` for every problem
# that declares peers, merged into $OUT/h200_peers.json in the shape `dojo bench --all --json`
# writes ({"schema": 1, "results": [...]}), plus the side-by-side tables and a one-line-per-case
# summary. One problem at a time under a shared deadline, cheapest first, so a slow one cannot
# cost the others their results (radix_tree and ep_all_to_all declare no peers: not run).
# Expected: 6-8 min (about 40 worker processes at a few seconds each, Inductor and FlexAttention
# compiles, moe_dispatch's per-token reference re-checking every sample); it stops at 540 s.
set -u
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1  # keep /tmp/site (Liger)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
START=$(date +%s); DEADLINE=$((START + ${PEERS_S:-540}))  # PEERS_S: a shorter budget
{ nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv
  python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__)'
  for m in liger_kernel flashinfer vllm; do
    python3 -c "import importlib.util as u; print('$m', 'installed' if u.find_spec('$m') else 'not installed')"
  done; } 2>&1 | tee "$OUT/peers_env.txt"
for slug in warp_reduce rms_norm fp8_quant smem_transpose online_softmax wmma_gemm spec_decode \
    paged_attention moe_dispatch; do
  left=$((DEADLINE - $(date +%s)))
  if [ "$left" -lt 20 ]; then echo "$slug: not run, the 540 s deadline is reached"; continue; fi
  t0=$(date +%s)
  timeout "$left" python3 -m grader bench "$slug" --impl solution --peers --json \
    > "$OUT/peers_$slug.json" 2> "$OUT/peers_$slug.err"
  echo "$slug: exit $? in $(($(date +%s) - t0)) s"
done 2>&1 | tee "$OUT/peers_progress.txt"
python3 scripts/peers_summary.py "$OUT" "$OUT/h200_peers.json" 2>&1 | tee "$OUT/peers_summary.txt"
echo "total $(($(date +%s) - START)) s"
