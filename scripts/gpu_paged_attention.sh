#!/usr/bin/env bash
# paged_attention on a CUDA GPU; logs and JSON under $OUT. Three stages, one device call each:
#   scripts/gpu_paged_attention.sh tests    # problem tests (incl. 131072 keys and a pool of
#                                           # over 2^31 elements), `dojo check --impl solution`
#   scripts/gpu_paged_attention.sh reject   # wrong variants and nulls rejected; `dojo bench`
#   scripts/gpu_paged_attention.sh peers    # solution + plan sweep vs torch SDPA, FlexAttention
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
case "${1:-tests}" in
tests)
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/paged_env.txt"
  timeout 330 python3 -m pytest problems/paged_attention -q -p no:cacheprovider -n 4 -rs \
    --durations=5 2>&1 | tail -25 | tee "$OUT/paged_pytest.txt"
  timeout 240 python3 -m grader check paged_attention --impl solution 2>&1 | tail -14 \
    | tee "$OUT/paged_check.txt"
  ;;
reject)
  timeout 330 python3 -m pytest tests/test_problems_reject_wrong_answers.py -k paged -q -n 8 \
    -p no:cacheprovider -rs 2>&1 | tail -15 | tee "$OUT/paged_reject.txt"
  timeout 240 python3 -m grader bench paged_attention --impl solution --json \
    > "$OUT/bench_paged_attention.json" 2> "$OUT/bench_paged_attention.err"
  python3 -c "import json; b=json.load(open('$OUT/bench_paged_attention.json')); print(b.get('status'), b.get('tier'), [(c['case'].get('B'), round(c['fraction'], 3), round(c['median_ms'] * 1e3, 1)) for c in b.get('cases', [])], b.get('message', ''))" \
    | tee "$OUT/paged_bench.txt"
  ;;
peers)
  timeout 570 python3 scripts/gpu_paged_attention.py "$OUT" 2>&1 | tail -25 \
    | tee "$OUT/paged_peers.txt"
  ;;
*) echo "usage: $0 tests|reject|peers"; exit 2 ;;
esac
