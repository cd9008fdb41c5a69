#!/usr/bin/env bash
# One device call that says, for every wrong variant, which check rejected it on this GPU and
# what the docstring claims ($OUT/variants.json), then runs the GPU-marked tests and benches the
# problems named. Usage: OUT=/tmp/out bash scripts/gpu_checks.sh "<pytest args>" "<slugs>"
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT/checks"
pip install -q --no-deps --no-index .device/wheels/*.whl 2>/dev/null
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/env.txt"
for f in solutions/*/wrong_*.py; do
  slug=$(basename "$(dirname "$f")"); bug=$(basename "$f" .py); bug=${bug#wrong_}
  timeout 240 python3 -m grader check "$slug" --impl "wrong:$bug" --json -x \
    > "$OUT/checks/$slug-$bug.json" 2> "$OUT/checks/$slug-$bug.err" &
  while [ "$(jobs -rp | wc -l)" -ge 8 ]; do sleep 0.5; done
done
wait
python3 - "$OUT" <<'PY'
import ast, json, pathlib, re, sys
out = pathlib.Path(sys.argv[1]); rows = []
for f in sorted(pathlib.Path("solutions").glob("*/wrong_*.py")):
    slug, bug = f.parent.name, f.stem.removeprefix("wrong_")
    doc = ast.get_docstring(ast.parse(f.read_text())) or ""
    claim = re.findall(r"^Rejected by: (.*)$", doc, re.M)
    try:
        d = json.loads((out / "checks" / f"{slug}-{bug}.json").read_text())
    except Exception as e:  # noqa: BLE001
        err = (out / "checks" / f"{slug}-{bug}.err").read_text()[-300:]
        rows.append({"variant": f"{slug}:{bug}", "claim": claim, "error": repr(e), "err": err})
        continue
    bad = [c["name"] for c in d["checks"] if c["status"] not in ("passed", "skipped", "needs_gpu")]
    ok = bool(claim) and bad[:1] == [claim[0].split()[0]] and d["verdict"] in ("failed", "crashed")
    rows.append({"variant": f"{slug}:{bug}", "ok": ok, "claim": claim, "verdict": d["verdict"],
                 "rejected_by": bad[:1], "message": d["message"][:400]})
(out / "variants.json").write_text(json.dumps(rows, indent=1))
print(sum(r.get("ok", False) for r in rows), "of", len(rows), "variants rejected where claimed")
for r in rows:
    if not r.get("ok"):
        print("MISMATCH", r)
PY
rm -rf "$OUT/checks"
if [ -n "$1" ]; then
  timeout 200 python3 -m pytest $1 -q -p no:cacheprovider -rfE --tb=line --hypothesis-profile=ci \
    2>&1 | tail -40 | tee "$OUT/pytest.txt"
fi
for slug in $2; do
  timeout 120 python3 -m grader bench "$slug" --impl solution --json > "$OUT/bench_$slug.json" \
    2> /dev/null
  python3 -c "import json; b=json.load(open('$OUT/bench_$slug.json')); print('$slug', b.get('status'), b.get('tier'), [round(c['fraction'],3) for c in b.get('cases',[])], b.get('message',''))"
done
