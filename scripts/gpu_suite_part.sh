#!/usr/bin/env bash
# One device call: a part of the test suite on the GPU with -n N, failures one line each, in
# $OUT/pytest_<name>.txt. Usage: OUT=... bash scripts/gpu_suite_part.sh NAME SECONDS N PATHS...
set -u
name=$1 limit=$2 n=$3; shift 3
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
pip install -q --no-deps --no-index .device/wheels/*.whl 2>/dev/null
timeout "$limit" python3 -m pytest "$@" -n "$n" -p no:cacheprovider -rfEs --tb=line \
  --deselect tests/engine/test_weights.py::test_real_wheel_gives_the_recorded_greedy_continuation \
  > "$OUT/pytest_$name.txt" 2>&1
echo "rc=$?" >> "$OUT/pytest_$name.txt"
grep -v "PytestBenchmarkWarning\|warner(" "$OUT/pytest_$name.txt" | tail -45
