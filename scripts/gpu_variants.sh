#!/usr/bin/env bash
# On one H200 (Triton 3.6): every wrong_*.py through `grader check -x` (verdict and the check
# that rejected it, next to the check its docstring names), the rejection test file, and the
# restructured Triton solutions benchmarked against their previous versions (from git, when
# the checkout has its history). Results: $OUT/variants.json, $OUT/reject.txt, $OUT/ptx.txt,
# $OUT/bench/*.json.
# Run from the repository root:  OUT=/tmp/out bash scripts/gpu_variants.sh
set -u
OUT=${OUT:-/tmp/gpu_variants}
BASE=${BASE:-203e171}  # the commit before the restructure
mkdir -p "$OUT/checks" "$OUT/bench"
export PYTHONPATH=$PWD

for f in solutions/*/wrong_*.py; do
    slug=$(basename "$(dirname "$f")"); bug=$(basename "$f" .py); bug=${bug#wrong_}
    python -m grader check "$slug" --impl "wrong:$bug" --json -x \
        > "$OUT/checks/$slug-$bug.json" 2> "$OUT/checks/$slug-$bug.err" &
    while [ "$(jobs -rp | wc -l)" -ge 4 ]; do sleep 1; done
done
wait
python - "$OUT" <<'PY'
import ast, json, pathlib, re, sys
out = pathlib.Path(sys.argv[1]); rows = []
for f in sorted(pathlib.Path("solutions").glob("*/wrong_*.py")):
    slug, bug = f.parent.name, f.stem.removeprefix("wrong_")
    doc = ast.get_docstring(ast.parse(f.read_text())) or ""
    claim = re.findall(r"^Rejected by: (.*)$", doc, re.M)
    try:
        d = json.loads((out / "checks" / f"{slug}-{bug}.json").read_text())
    except Exception as e:  # noqa: BLE001
        rows.append({"variant": f"{slug}:{bug}", "claim": claim, "error": repr(e)}); continue
    bad = [c["name"] for c in d["checks"] if c["status"] not in ("passed", "skipped", "needs_gpu")]
    rows.append({"variant": f"{slug}:{bug}", "claim": claim, "verdict": d["verdict"],
                 "rejected_by": bad[:1], "message": d["message"][:300]})
(out / "variants.json").write_text(json.dumps(rows, indent=1))
for r in rows:
    print(r["variant"], r.get("verdict"), r.get("rejected_by"), "claim:", r["claim"])
PY

python -m pytest tests/sandbox/test_problems_reject_wrong_answers.py -q -n 8 -rs \
    > "$OUT/reject.txt" 2>&1
tail -5 "$OUT/reject.txt"

# Speed, 1: the restructured kernels compile to the same PTX as before (Triton 3.6 here).
python scripts/ptx_unchanged.py "$BASE" > "$OUT/ptx.txt" 2>&1
tail -1 "$OUT/ptx.txt" | head -c 300; echo

# Speed, 2: the restructured solution against its previous version (same process, same GPU).
for slug in rms_norm online_softmax fp8_quant; do
    python -m grader bench "$slug" --impl solution --json > "$OUT/bench/$slug-new.json" 2>&1
    if git show "$BASE:solutions/$slug/triton.py" > "$OUT/bench/$slug-old.py" 2>/dev/null; then
        python -m grader bench "$slug" --impl "$OUT/bench/$slug-old.py" --json \
            > "$OUT/bench/$slug-old.json" 2>&1
    else
        echo "no git history here: compare $slug-new.json with main's bench" > "$OUT/bench/$slug-old.json"
    fi
done
ls -la "$OUT/bench"
