#!/usr/bin/env bash
# One device call on one H200 for online_softmax: the sweep (scripts/gpu_softmax_sweep.py: JSON
# to $OUT/softmax_sweep.json, table to $OUT/softmax_sweep.txt), the split path's GPU tests
# (tests/gpu/test_online_softmax_split_gpu.py) and the problem's own tests on CUDA with the
# solution, then `dojo bench` of the solution as the grader scores it. Each step has its own
# timeout (a deadlocked kernel costs its step, not the call); the whole stays under 540 s.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -c 'import torch, triton; print(torch.cuda.get_device_name(), "torch", torch.__version__,
"triton", triton.__version__)' 2>&1 | tee "$OUT/softmax_env.txt"
timeout 150 python3 scripts/gpu_softmax_sweep.py 2>&1 | tee "$OUT/softmax_sweep.txt"
echo "sweep rc=${PIPESTATUS[0]}" | tee -a "$OUT/softmax_sweep.txt"
timeout 200 python3 -m pytest -q -n 8 tests/gpu/test_online_softmax_split_gpu.py 2>&1 \
  | tail -40 | tee "$OUT/softmax_gpu_tests.txt"
timeout 120 python3 -m pytest -q -n 8 problems/online_softmax --impl solution 2>&1 \
  | tail -20 | tee "$OUT/softmax_problem_tests.txt"
timeout 60 python3 -m grader bench online_softmax --impl solution --json \
  > "$OUT/softmax_bench.json" 2> "$OUT/softmax_bench.err"
echo "bench rc=$?"; tail -c 1500 "$OUT/softmax_bench.json"
