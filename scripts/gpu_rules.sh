#!/usr/bin/env bash
# One device call: the rules checks on a GPU. Every shipped solution must pass `dojo check` (its
# GPU code paths run under the worker's TorchFunctionMode there, not on a CPU), and the rules
# cheats must fail them. Results: $OUT/rules_checks.json (one verdict per problem, and the
# status of test_follows_the_rules / test_runs_no_forbidden_call), $OUT/rules_pytest.txt.
# Usage: scripts/gpu_rules.sh        (about 10 min on one H200)
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/env.txt"
for slug in $(ls problems); do
  timeout 500 python3 -m grader check "$slug" --impl solution --json > "$OUT/check_$slug.json" \
    2> "$OUT/check_$slug.err"
done
python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = {}
for f in sorted(out.glob("check_*.json")):
    try:
        d = json.loads(f.read_text())
    except ValueError:
        rows[f.stem[6:]] = {"verdict": "no JSON", "message": (f.with_suffix(".err")).read_text()[-300:]}
        continue
    rules = {c["name"]: c["status"] for c in d["checks"] if "rules" in c["name"] or "forbidden" in c["name"]}
    rows[d["problem"]] = {"verdict": d["verdict"], "message": d["message"], "rules": rules}
(out / "rules_checks.json").write_text(json.dumps(rows, indent=1))
for slug, r in rows.items():
    print(f"{slug:16} {r['verdict']:10} {r.get('rules')} {r['message'][:120]}")
PY
timeout 900 python3 -m pytest tests/unit/test_rules.py tests/sandbox/test_rules_verdicts.py -n 8 -q \
  -p no:randomly 2>&1 | tail -20 | tee "$OUT/rules_pytest.txt"
