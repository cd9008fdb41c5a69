#!/usr/bin/env bash
# One device call: per-check time budgets on a GPU. Everything lands under $OUT.
#   scripts/gpu_budgets.sh       calibrates rms_norm; checks that an infinite loop in rms_norm is
#                                stopped at its first check's budget (not the 600 s cap) and that
#                                the solution passes under the budgets; runs test_budgets.py
#                                -> calibrate_rms_norm.json, infinite_loop.json, solution_check.json,
#                                   test_budgets.txt, calibration.json (the cache), times.txt
#   scripts/gpu_budgets.sh all   `dojo calibrate --all` -> calibrate_all.json, calibration.json
# Each mode stays under the 600 s of one device call (worst case 480 s and 560 s).
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export XDG_DATA_HOME="$OUT/xdg"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/env.txt"
step() {  # step NAME LIMIT CMD...: CMD's stdout to $OUT/NAME, its exit code and seconds to times.txt
    local name=$1 limit=$2 t0=$SECONDS; shift 2
    timeout "$limit" "$@" > "$OUT/$name" 2> "$OUT/$name.err"
    echo "$name rc=$? $((SECONDS - t0)) s" | tee -a "$OUT/times.txt"
}
if [ "${1:-}" = all ]; then
    step calibrate_all.json 560 python3 -m grader calibrate --all --json
else
    step calibrate_rms_norm.json 90 python3 -m grader calibrate rms_norm --json
    step infinite_loop.json 150 python3 -m grader check rms_norm \
        --impl tests/sandbox/bad_attempts/infinite_loop.py --json
    step solution_check.json 90 python3 -m grader check rms_norm --impl solution --json
    step test_budgets.txt 150 python3 -m pytest tests/sandbox/test_budgets.py -q -p no:randomly -n 4
    python3 -c "import json; r = json.load(open('$OUT/infinite_loop.json')); print(r['verdict'], r['seconds'], r['message'])"
    tail -3 "$OUT/test_budgets.txt"
fi
cp "$XDG_DATA_HOME/kernel-dojo/calibration.json" "$OUT/" 2>/dev/null
cat "$OUT/times.txt"
