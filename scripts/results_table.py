"""Markdown results table from results/*.json (`dojo grade --all --impl solution --json` output,
committed from real GPU runs). README's table is this script's output, checked by a test.
Usage: python scripts/results_table.py [results/h100.json ...]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNIT = {
    "bandwidth": "of copy bandwidth",
    "tflops": "of cuBLAS",
    "speedup": "x the reference",
    "custom": "of the baseline",
}


def _case(case: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in case.items())


def table(path: Path) -> str:
    data = json.loads(path.read_text())
    lines = [
        f"`{path.relative_to(ROOT)}`",
        "",
        "| problem | verdict | score | tier | measured (per benchmark case) | device |",
        "|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        perf = r.get("perf", {})
        if perf.get("status") == "measured":
            unit = UNIT.get(perf.get("metric"), "")
            cases = "; ".join(
                f"{c['fraction']:.3f} {unit} ({_case(c['case'])})" for c in perf.get("cases", [])
            )
            device = perf.get("device", "")
        else:
            cases, device = perf.get("message", ""), ""
        score = "n/a" if r["score"] is None else r["score"]
        lines.append(
            f"| {r['problem']} | {r['verdict']} | {score} | {r['tier'] or '—'} | "
            f"{cases} | {device} |"
        )
    return "\n".join(lines)


def main(paths: list[str]) -> str:
    files = [Path(p).resolve() for p in paths] or sorted((ROOT / "results").glob("*.json"))
    return "\n\n".join(table(f) for f in files if "results" in json.loads(f.read_text()))


if __name__ == "__main__":
    print(main(sys.argv[1:]))
