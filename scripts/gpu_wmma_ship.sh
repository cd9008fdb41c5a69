#!/usr/bin/env bash
# wmma_gemm as shipped (swizzled FAST / SMALL, the folded fallback) on one H200, one device call
# (about 4-7 min; each step has its own timeout):
#   1. scripts/gpu_wmma_sweep.py: FAST and SMALL checked on the aligned cases and timed against
#      cuBLAS at 4096^3 / 8192^3; the fallback checked on every fixed case and unaligned ones
#      -> $OUT/wmma_sweep.json, wmma_sweep.txt (expect FAST near 0.59 / 0.63, fallback 'ok')
#   2. the problem's tests on the solution (fixed cases, random shapes with offsets, A @ I,
#      linearity) -> wmma_pytest.txt
#   3. the wrong variants and null answers rejected at their named checks (fp16_accumulator and
#      drops_k_tail failed, assumes_aligned_rows crashed) -> wmma_reject.txt
#   4. `dojo bench wmma_gemm --impl solution`: the grader's own figure and tier
# Usage (repository root): OUT=/some/dir scripts/gpu_wmma_ship.sh
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/wmma_env.txt"
timeout 180 python3 scripts/gpu_wmma_sweep.py 2>&1 | tee "$OUT/wmma_sweep.txt" | tail -20
timeout 200 python3 -m pytest problems/wmma_gemm --impl solution -q -p no:cacheprovider -n 8 \
  -rs 2>&1 | tail -15 | tee "$OUT/wmma_pytest.txt"
timeout 200 python3 -m pytest tests/sandbox/test_problems_reject_wrong_answers.py -k wmma -q \
  -p no:cacheprovider -n 6 -rs 2>&1 | tail -15 | tee "$OUT/wmma_reject.txt"
timeout 150 python3 -m grader bench wmma_gemm --impl solution --json \
  > "$OUT/bench_wmma_gemm.json" 2> "$OUT/bench_wmma_gemm.err"
python3 -c "import json; b=json.load(open('$OUT/bench_wmma_gemm.json')); print(b.get('status'), b.get('tier'), [(round(c['fraction'], 3), round(c['median_ms'], 4)) for c in b.get('cases', [])], b.get('message', ''))" \
  2>&1 | tee "$OUT/wmma_bench.txt"
