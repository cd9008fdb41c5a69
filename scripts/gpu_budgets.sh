#!/usr/bin/env bash
# One device call: per-check time budgets on a GPU. Calibrates rms_norm, checks that an infinite
# loop in rms_norm is stopped at its first check's budget (not the 600 s cap) and that the
# solution passes under the budgets, runs tests/sandbox/test_budgets.py, then calibrates every
# problem with the time left. Everything lands under $OUT:
#   infinite_loop.json (verdict timeout, message naming the check, its time and budget; seconds)
#   solution_check.json, calibrate_rms_norm.json, calibrate_all.json, calibration.json (the cache),
#   test_budgets.txt, times.txt (wall seconds of each step)
# Usage: scripts/gpu_budgets.sh
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export XDG_DATA_HOME="$OUT/xdg"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/env.txt"
step() {  # step NAME TIMEOUT CMD...: run CMD, stdout to $OUT/NAME, its wall time to times.txt
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name" 2> "$OUT/$name.err"
    echo "$name rc=$? ${SECONDS}s-${t0}s = $((SECONDS - t0)) s" | tee -a "$OUT/times.txt"
}
step calibrate_rms_norm.json 120 python3 -m grader calibrate rms_norm --json
step infinite_loop.json 200 python3 -m grader check rms_norm \
    --impl tests/sandbox/bad_attempts/infinite_loop.py --json
step solution_check.json 120 python3 -m grader check rms_norm --impl solution --json
step test_budgets.txt 200 python3 -m pytest tests/sandbox/test_budgets.py -q -p no:randomly -n 4
step calibrate_all.json 240 python3 -m grader calibrate --all --json
cp "$XDG_DATA_HOME/kernel-dojo/calibration.json" "$OUT/" 2>/dev/null
python3 -c "import json; r = json.load(open('$OUT/infinite_loop.json')); print(r['verdict'], r['seconds'], r['message'])"
tail -3 "$OUT/test_budgets.txt"
