"""Markdown results tables from results/*.json, committed from real GPU runs: `dojo grade --all
--impl solution --json` files (verdict, score, tier, fractions) and `dojo bench --peers --json`
files (each case's fraction next to its best peer's, same run). README's tables are this
script's output, checked by a test. Usage: python scripts/results_table.py [results/X.json ...]"""

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


def peers_table(path: Path) -> str:
    """One row per bench case: the solution's fraction and tier, its best peer's, the ratio."""
    lines = [
        f"`{path.relative_to(ROOT)}`",
        "",
        "| problem | case | solution | tier | best peer (same run) | solution / peer |",
        "|---|---|---|---|---|---|",
    ]
    for b in json.loads(path.read_text())["results"]:
        if b.get("status") != "measured":
            lines.append(f"| {b['problem']} | — | {b.get('status')} | — | — | — |")
            continue
        versus = b.get("versus_peers") or [{}] * len(b["cases"])
        for row, v in zip(b["cases"], versus):
            peer, ratio = "none timed", "—"
            if v.get("best_peer"):
                peer, ratio = f"{v['best_peer']} {v['best_fraction']:.3f}", f"{v['ratio']:.2f}x"
                peer += " (inexact)" if _inexact(b, v["best_peer"]) else ""
            lines.append(
                f"| {b['problem']} | {_case(row['case'])} | {row['fraction']:.3f} | "
                f"{row['tier'] or 'below bronze'} | {peer} | {ratio} |"
            )
    return "\n".join(lines)


def main(paths: list[str]) -> str:
    files = [Path(p).resolve() for p in paths] or sorted((ROOT / "results").glob("*.json"))
    out = []
    for f in files:
        record = json.loads(f.read_text())  # sweeps and probes are lists or other records
        results = record.get("results") if isinstance(record, dict) else None
        if results:
            out.append(table(f) if "verdict" in results[0] else peers_table(f))
    return "\n\n".join(out)


def _inexact(b: dict, name: str) -> bool:
    """A peer timed outside the problem's tolerance (grader.perf.bench.INEXACT_FACTOR)."""
    return any(p.get("name") == name and p.get("status") == "inexact" for p in b.get("peers", []))


if __name__ == "__main__":
    print(main(sys.argv[1:]))
