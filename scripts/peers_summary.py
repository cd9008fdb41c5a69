"""Merge per-problem `dojo bench <slug> --peers --json` files into one `dojo bench --all --json`
shaped file, print the side-by-side tables, then one line per bench case: the implementation's
fraction next to its best peer's. Usage: python scripts/peers_summary.py DIR OUT.json
(DIR holds peers_<slug>.json, as scripts/gpu_peers.sh writes them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from grader.cli import peers_view, report
from grader.perf import doctor
from grader.problem.registry import all_problems


def merged(folder: Path) -> list[dict]:
    results = []
    for p in all_problems():
        path = folder / f"peers_{p.slug}.json"
        if not path.is_file():
            continue
        try:
            results.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            err = path.with_suffix(".err")
            why = err.read_text().strip().splitlines()[-1:] if err.is_file() else []
            results.append(
                {"problem": p.slug, "impl": "solution", "status": "error", "message": " ".join(why)}
            )
    return results


def lines(b: dict) -> list[str]:
    """One line per case: 'slug case: impl 0.894 (silver) | best peer compile 0.819 -> 1.09x'."""
    if b.get("status") != "measured" or "cases" not in b:
        return [f"{b.get('problem')}: {b.get('status')} {b.get('message', '')}"[:200]]
    out = []
    for row, versus in zip(b["cases"], b.get("versus_peers", [{}] * len(b["cases"]))):
        case = " ".join(f"{k}={v}" for k, v in row["case"].items())
        tier = row["tier"] or "below bronze"
        head = f"{b['problem']} {case}: {b['impl']} {row['fraction']:.3f} ({tier})"
        if versus.get("best_peer"):
            best = f"{versus['best_peer']} {versus['best_fraction']:.3f}"
            best += " (inexact)" if _inexact(b, versus["best_peer"]) else ""
            out.append(f"{head} | best peer {best} -> {versus['ratio']:.2f}x")
        else:
            out.append(f"{head} | no peer timed")
    return out


def main(folder: Path, target: Path) -> None:
    results = merged(folder)
    data = {"schema": 1, "results": results, "machine": doctor.facts(measure=False)}
    target.write_text(json.dumps(data, indent=1))
    console = Console(width=80, highlight=False)
    for b in results:
        report.print_bench(console, b)
        peers_view.print_peers(console, b)
        console.print()
    for b in results:
        for line in lines(b):
            print(line)
    print(f"wrote {target} ({len(results)} problems)")


def _inexact(b: dict, name: str) -> bool:
    """A peer timed outside the problem's tolerance (grader.perf.bench.INEXACT_FACTOR)."""
    return any(p.get("name") == name and p.get("status") == "inexact" for p in b.get("peers", []))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
