"""`dojo bench --peers` for people: per bench case, the implementation and every peer as fractions
of the same speed of light, best first, in fixed-width rows that fit 80 columns."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from grader.cli.report import hang, perf_value, tier_text

OF = {"bandwidth": "of copy", "tflops": "of cuBLAS", "speedup": "x ref"}
NOT_TIMED = {
    "not_installed": "not installed",
    "not_here": "not run here",
    "failed": "WRONG, not timed",
    "error": "error, not timed",
    "crashed": "crashed, not timed",
    "not_attempted": "raised NotImplementedError",
}


def print_peers(console: Console, b: dict[str, Any]) -> None:
    """The side-by-side tables; a bench without peers says why in one line."""
    if b.get("status") != "measured" or "peers" not in b:
        return
    if not b["peers"]:
        why = ": its baseline is what a user would call" if b["metric"] == "custom" else ""
        console.print(f"peers: {b['problem']} declares none{why or ' (see its problem.toml)'}")
        return
    width = max(14, len(b["impl"]), *(len(_label(p)) for p in b["peers"]))
    for i in range(len(b["cases"])):
        _case_table(console, b, i, width)
        console.print(_verdict(b, b["versus_peers"][i]))
    for p in b["peers"]:
        if p["status"] == "inexact":
            why = "outside this problem's tolerance, timed anyway: " + _first(p["message"])
            hang(console, Text(f"{p['label']}: "), why, "dim")
        elif p.get("message"):  # not timed, or not on every case
            hang(console, Text(f"{p['label']}: "), _first(p["message"]), "dim")


def _case_table(console: Console, b: dict[str, Any], i: int, width: int) -> None:
    case = " ".join(f"{k}={v}" for k, v in b["cases"][i]["case"].items())
    console.print()
    hang(console, Text(f"{b['problem']} · ", style="bold"), case, "bold")
    unit = OF.get(b["metric"], "")
    console.print(
        Text(f"  {'implementation':<{width}}  {unit:>9}  {'tier':<12}  {'median':>10}", "dim")
    )
    best = b["versus_peers"][i]["best_peer"]
    timed = [(b["cases"][i], b["impl"], "")]
    timed += [
        (p["cases"][i], _label(p), "*" if p["name"] == best else "")
        for p in _measured(b)
        if "fraction" in p["cases"][i]
    ]
    for row, label, mark in sorted(timed, key=lambda t: -t[0]["fraction"]):
        line = Text(f"{mark or ' '} {label:<{width}}  {perf_value(row['fraction']):>9}  ")
        line.append_text(tier_text(row.get("tier")))
        line.append(" " * max(0, 12 - len(row.get("tier") or "below bronze")))
        line.append(f"  {_ms(row['median_ms']):>10}")
        console.print(line, no_wrap=True, overflow="fold")
    for p in b["peers"]:
        if p["status"] in NOT_TIMED:
            console.print(Text(f"  {p['label']:<{width}}  {NOT_TIMED[p['status']]}", "dim"))
        elif "fraction" not in p["cases"][i]:  # timed on the other cases, not this one
            console.print(Text(f"  {_label(p):<{width}}  error on this case, not timed", "dim"))


def _verdict(b: dict[str, Any], versus: dict[str, Any]) -> Text:
    who = "your kernel" if b["impl"] == "attempt" else b["impl"]
    if not versus.get("best_peer"):
        return Text(f"{who}: no peer was timed on this machine", style="dim")
    label = next(_label(p) for p in b["peers"] if p["name"] == versus["best_peer"])
    ratio = versus["ratio"]
    style = "bold green" if ratio >= 1 else "bold red"
    return Text.assemble(f"{who} is ", (f"{ratio:.2f}x", style), f" the best peer ({label}) *")


def _measured(b: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in b["peers"] if p["status"] in ("measured", "inexact")]


def _label(p: dict[str, Any]) -> str:
    return p["label"] + (" (inexact)" if p["status"] == "inexact" else "")


def _ms(ms: float) -> str:
    return f"{ms * 1e3:.1f} us" if ms < 1 else f"{ms:.4g} ms"


def _first(message: str) -> str:
    lines = (message or "").strip().splitlines()
    return lines[0] if lines else ""
