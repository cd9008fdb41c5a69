#!/usr/bin/env bash
# One device call: the red-team fixes on a GPU, and the one hole left open there.
#  1. bench rms_norm: the solution, then reports_its_own_time.py (the worker times itself; the
#     harness only bounds that by its own clock). Until that is fixed, expect the cheat
#     "measured" with about 3x the solution's fraction: that is the open hole, not a pass.
#  2. bench spec_decode with rewrites_shared_inputs.py: must be "failed" ("elements differ"),
#     the implementation now gets its own copy of the inputs.
#  3. every solution graded (no honest one may be refused by the wire's extent check, the
#     non-dumpable processes, the file-read rule or the input copies), and the sandbox and
#     checked-call tests on the GPU.
# Results: $OUT/bench_*.json, $OUT/grade.json, $OUT/pytest.txt, $OUT/summary.txt.
# Usage: scripts/gpu_redteam.sh bench|grade|tests   (one part per device call: a call may run
#        10 min at most; the three together take about 15 min on one H200)
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/env.txt"
BAD=tests/sandbox/bad_attempts
bench() {  # slug impl name
  timeout 180 python3 -m grader bench "$1" --impl "$2" --json > "$OUT/bench_$3.json" \
    2> "$OUT/bench_$3.err"
}
PART=${1:?say which part: bench, grade or tests}
if [ "$PART" = bench ]; then
  bench rms_norm solution rms_norm_solution
  bench rms_norm "$BAD/reports_its_own_time.py" rms_norm_reports_its_own_time
  bench spec_decode "$BAD/rewrites_shared_inputs.py" spec_decode_rewrites_shared_inputs
elif [ "$PART" = grade ]; then
  timeout 560 python3 -m grader grade --all --impl solution --json > "$OUT/grade.json" \
    2> "$OUT/grade.err"
else
  timeout 560 python3 -m pytest tests/sandbox tests/unit/test_checked_calls.py -n 8 -q \
    -p no:randomly 2>&1 | tail -30 > "$OUT/pytest.txt"
fi
python3 - "$OUT" > "$OUT/summary.txt" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for f in sorted(out.glob("bench_*.json")):
    try:
        d = json.loads(f.read_text())
    except ValueError:
        print(f.stem, "no JSON:", f.with_suffix(".err").read_text()[-300:]); continue
    b = d.get("bench", d)
    print(f.stem, json.dumps({k: b.get(k) for k in ("status", "fraction", "tier", "message")})[:400])
if (out / "grade.json").exists():
    try:
        print("grade:", json.dumps(json.loads((out / "grade.json").read_text()))[:3000])
    except ValueError:
        print("grade: no JSON:", (out / "grade.err").read_text()[-500:])
PY
cat "$OUT/summary.txt" "$OUT/pytest.txt" 2>/dev/null
