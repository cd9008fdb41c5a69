#!/usr/bin/env bash
# One device call: a part of the test suite on the GPU with -n N, failures one line each, in
# $OUT/pytest_<name>.txt. Usage: OUT=... bash scripts/gpu_suite_part.sh NAME SECONDS N PATHS...
set -u
name=$1 limit=$2 n=$3; shift 3
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
# gguf, ruff; the server's and Liger's wheels: one pip call (a second --target install would
# replace /tmp/site/bin, ruff's included), once per machine
wheels=$(ls .device/wheels/*.whl .device/serve/*.whl 2> /dev/null)
[ -e /tmp/site/.dojo-wheels ] || { [ -n "$wheels" ] && python3 -m pip install -q --no-deps \
    --no-index --upgrade --target /tmp/site $wheels && touch /tmp/site/.dojo-wheels; }
export PYTHONPATH=$PYTHONPATH:/tmp/site PATH=$PATH:/tmp/site/bin
timeout "$limit" python3 -m pytest "$@" -n "$n" -p no:cacheprovider -v -rfEs --tb=line \
  --deselect tests/engine/test_weights.py::test_real_wheel_gives_the_recorded_greedy_continuation \
  > "$OUT/pytest_$name.txt" 2>&1
echo "rc=$?" >> "$OUT/pytest_$name.txt"
# -v names each failure as it happens: a run cut short by the timeout still says what failed
grep -E "(FAILED|ERROR) |passed|failed|rc=" "$OUT/pytest_$name.txt" | grep -v "^tests.*PASSED" | tail -45
