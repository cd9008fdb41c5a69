#!/usr/bin/env bash
# One device call: the red-team fixes on a GPU.
#  1. bench rms_norm (grader.perf.bound: the harness's clock puts a floor under a GPU score):
#     - solution: "measured", every case `clock: events` (scored on its CUDA events as before:
#       fraction ~0.89 on an H200, results/h200_rms_norm_bench.json), harness/events < 1.10;
#     - reference (the eager math the cheats below run, honest): its fraction is the yardstick;
#     - reports_its_own_time.py (events report a third): "measured", `clock: harness`,
#       events/harness ~0.33, fraction within 0.9-1.1x the reference's (before the fix: ~3x);
#     - hides_its_batch.py (reports a third and answers the timed batch before its kernels
#       finish): "failed", message "... its kernels were still running ..."; or, if the GPU ran
#       its queue before the harness's overwrite (then the clock saw it all), as the line above;
#     - computes_its_batch_when_staged.py: "failed", message "... elements differ ...";
#     - solution --peers: each peer's clock (a launch path slower than its kernel: `harness`).
#  2. bench spec_decode with rewrites_shared_inputs.py: must be "failed" ("elements differ"),
#     the implementation now gets its own copy of the inputs.
#  3. every solution graded (no honest one may be refused by the wire's extent check, the
#     non-dumpable processes, the file-read rule or the input copies; the summary prints each
#     GPU case's clock: an honest solution on `harness` is a false floor to report), and the
#     sandbox and checked-call tests on the GPU.
# Results: $OUT/bench_*.json, $OUT/grade.json, $OUT/pytest.txt, $OUT/summary.txt.
# Usage: scripts/gpu_redteam.sh bench|grade|tests   (one part per device call: a call may run
#        10 min at most; bench takes about 5 min on one H200)
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/env.txt"
BAD=tests/sandbox/bad_attempts
bench() {  # slug impl name [more args]
  timeout 180 python3 -m grader bench "$1" --impl "$2" --json "${@:4}" > "$OUT/bench_$3.json" \
    2> "$OUT/bench_$3.err"
}
PART=${1:?say which part: bench, grade or tests}
if [ "$PART" = bench ]; then
  bench rms_norm solution rms_norm_solution
  bench rms_norm reference rms_norm_reference
  bench rms_norm "$BAD/reports_its_own_time.py" rms_norm_reports_its_own_time
  bench rms_norm "$BAD/hides_its_batch.py" rms_norm_hides_its_batch
  bench rms_norm "$BAD/computes_its_batch_when_staged.py" rms_norm_computes_its_batch_when_staged
  bench spec_decode "$BAD/rewrites_shared_inputs.py" spec_decode_rewrites_shared_inputs
  bench rms_norm solution rms_norm_solution_peers --peers
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


def clocks(who, b):
    for c in b.get("cases") or []:
        if "clock" in c:
            ratio = c["harness_ms"] / c["events_median_ms"]
            print(f"  {who}: clock {c['clock']}, events {c['events_median_ms']:.4g} ms, "
                  f"harness {c['harness_ms']:.4g} ms (x{ratio:.3f}), fraction {c['fraction']:.4f}")


for f in sorted(out.glob("bench_*.json")):
    try:
        d = json.loads(f.read_text())
    except ValueError:
        print(f.stem, "no JSON:", f.with_suffix(".err").read_text()[-300:]); continue
    b = d.get("bench", d)
    print(f.stem, json.dumps({k: b.get(k) for k in ("status", "fraction", "tier", "message")})[:400])
    clocks("case", b)
    for p in b.get("peers") or []:
        print(f"  peer {p.get('name')}: {p.get('status')} {p.get('fraction', p.get('message', ''))}")
        clocks(f"peer {p.get('name')}", p)
if (out / "grade.json").exists():
    try:
        g = json.loads((out / "grade.json").read_text())
        print("grade:", json.dumps(g)[:3000])
        for row in g.get("results", []):
            clocks(str(row.get("problem", "?")), row.get("perf") or {})
    except ValueError:
        print("grade: no JSON:", (out / "grade.err").read_text()[-500:])
PY
cat "$OUT/summary.txt" "$OUT/pytest.txt" 2>/dev/null
