#!/usr/bin/env bash
# smem_transpose on one H200, one device call (about 4-6 min; each step has its own timeout):
#   1. scripts/gpu_transpose_sweep.py: every float4 Plan, the scalar kernel, x.t().contiguous()
#      and torch.compile, exact on the bench case and ragged shapes, timed round-robin against
#      copy (about 40-70 s) -> $OUT/transpose_sweep.json, transpose_sweep.txt
#   2. the problem's tests on the shipped solution (values, the layout probe, ragged edges)
#   3. `dojo bench smem_transpose --impl solution --peers`: the grader's own figure and tier
# Usage (repository root): OUT=/some/dir scripts/gpu_transpose.sh
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/transpose_env.txt"
timeout 150 python3 scripts/gpu_transpose_sweep.py 2>&1 | tee "$OUT/transpose_sweep.txt" | tail -60
timeout 240 python3 -m pytest problems/smem_transpose --impl solution -q -p no:cacheprovider -n 8 \
  -rs 2>&1 | tail -15 | tee "$OUT/transpose_pytest.txt"
timeout 200 python3 -m grader bench smem_transpose --impl solution --peers --json \
  > "$OUT/bench_smem_transpose.json" 2> "$OUT/bench_smem_transpose.err"
python3 -c "import json; b=json.load(open('$OUT/bench_smem_transpose.json')); print(b.get('status'), b.get('tier'), [(round(c['fraction'], 3), round(c['median_ms'], 4)) for c in b.get('cases', [])], [(p['label'], p.get('fraction')) for p in b.get('peers', [])], b.get('message', ''))" \
  2>&1 | tee "$OUT/transpose_bench.txt"
