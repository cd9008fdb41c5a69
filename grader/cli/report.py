"""Rich rendering of verdicts, benchmarks and the scoreboard for people (JSON is in the CLI)."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.perf.grade import Grade
from grader.sandbox.verdict import VERDICTS, CheckResult

TIER_STYLE = {"gold": "bold yellow", "silver": "bold white", "bronze": "bold dark_orange3"}
UNKNOWN_IMPL_NEXT = "`dojo show {slug}` lists the implementations you can name"


def hang(console: Console, prefix: Text, tail: str, tail_style: str = "") -> None:
    """Print prefix then tail; a tail too long for the line wraps at word boundaries under its
    own start, so nothing is cut and no line is wider than the console (80 through a pipe)."""
    room = max(20, console.width - len(prefix.plain))
    lines = textwrap.wrap(tail, room, break_on_hyphens=False) or [""]
    console.print(prefix + Text(lines[0], style=tail_style), no_wrap=True, overflow="fold")
    pad = " " * len(prefix.plain)
    for line in lines[1:]:
        console.print(Text(pad + line, style=tail_style), no_wrap=True, overflow="fold")


def style(status: str) -> str:
    """A verdict's style; a bench's `measured` reads as a pass."""
    status = "passed" if status == "measured" else status
    return VERDICTS[status].style if status in VERDICTS else ""


def verdict_text(verdict: str) -> Text:
    return Text(verdict.replace("_", " ").upper(), style=style(verdict))


def next_step(r: CheckResult, hints_left: int | None = None) -> str:
    """The verdict's next step, fitted to what happened: a CUDA stub is edited in attempt.cu,
    and once every hint is shown the worked solution is the next place to look."""
    if r.message.startswith("--impl") or "no solution" in r.message:
        return UNKNOWN_IMPL_NEXT
    if r.verdict == "not_attempted" and "attempt.cu" in r.message:
        return "edit problems/{slug}/attempt.cu (README.md has the statement)"
    if r.verdict == "failed" and hints_left == 0:
        return "read the first failure above; every hint is shown: solutions/{slug}/ has a solution"
    return VERDICTS[r.verdict].next_step


def print_check(console: Console, r: CheckResult, hints_left: int | None = None) -> None:
    console.print(
        Text.assemble(
            (r.problem, "bold"),
            f" · {r.impl} · ",
            verdict_text(r.verdict),
            f"  ({r.seconds:.1f} s)",
        )
    )
    for c in r.checks:  # fixed columns first, the test's name last: it wraps, never cut
        cases = f"{c.passed}/{c.cases}" if c.cases else ""
        extra = f" ({c.needs_gpu} need a GPU)" if c.needs_gpu and c.status == "passed" else ""
        mark = VERDICTS[c.status].mark if c.status in VERDICTS else "✗"
        line = Text(f"  {mark} ") + _pad(verdict_text(c.status), 13) + Text(f" {cases:>7}  ")
        hang(console, line, _human(c.name) + extra)
    for note in r.notes:
        console.print(Text(note, style="cyan"))
    # the detail of the check that decided the verdict (an error outranks an earlier failure)
    bad = next((c for c in r.checks if c.status == r.verdict), None)
    if bad is not None and r.verdict in ("failed", "error", "crashed"):
        first = Text("first failure: ", style="bold")
        for i, line in enumerate(_wrap_id(r.message.split(": ")[0], console.width - len(first))):
            console.print((first if i == 0 else Text(" " * len(first))) + Text(line), no_wrap=True)
        console.print(Text(bad.message, style="red"))
        if bad.example:
            console.print(Text(bad.example, style="magenta"))
    else:
        console.print(Text(r.message, style=style(r.verdict)))
    step = next_step(r, hints_left)
    if step:
        console.print(Text("next: " + step.format(slug=r.problem, impl=r.impl), style="dim"))


def _wrap_id(test_id: str, room: int) -> list[str]:
    """A test id too long for the line, broken after its parameters' separators ('-', '['),
    never inside a value: test_x[B=1-D=64-\nS=16-float32]."""
    lines = [""]
    for piece in re.split(r"(?<=[-\[])", test_id):
        if lines[-1] and len(lines[-1]) + len(piece) > max(room, 20):
            lines.append("")
        lines[-1] += piece
    return lines


def _human(test_name: str) -> str:
    return test_name.removeprefix("test_").replace("_", " ")


def _first(message: str) -> str:
    lines = (message or "").strip().splitlines()
    return lines[0] if lines else ""


def print_bench(console: Console, b: dict[str, Any]) -> None:
    status = b.get("status", "error")
    head = Text.assemble(
        (f"{b.get('problem', '')}", "bold"), f" · {b.get('impl', '')} · ", verdict_text(status)
    )
    console.print(head)
    if status != "measured":
        console.print(Text(b.get("message", ""), style=style(status)))
        return
    console.print(
        f"device: {b['device']} · metric: {b['metric']} vs {b['baseline']} · bars: "
        + ", ".join(f"{k} {v:g}" for k, v in b["bars"].items())
    )
    table = Table(box=None, header_style="dim")
    for col in ("case", "median", "achieved", "baseline", "fraction", "tier"):
        table.add_column(col, justify="right" if col != "case" else "left")
    for row in b["cases"]:
        table.add_row(
            _case(row["case"]),
            f"{row['median_ms']:.4g} ms",
            _rate(row.get("achieved"), row.get("unit", "")),
            _rate(row.get("baseline_value"), row.get("unit", "")),
            f"{row['fraction']:.3f}",
            tier_text(row.get("tier")),
        )
    console.print(table)
    console.print(
        Text.assemble(
            "tier: ",
            tier_text(b.get("tier")),
            f"  (worst case {b['fraction']:.3f} of the baseline)",
        )
    )
    for row in b["cases"]:
        if row.get("ci95"):
            lo, hi = row["ci95"]
            sure = "stable"
            if row.get("uncertain"):  # score.py takes the tier of the interval's low end
                sure = "uncertain: it crosses a bar, so the tier is its low end's"
            console.print(f"95% interval of the speedup: {lo:.3g} to {hi:.3g} ({sure})")
    for key, value in (b.get("extra") or {}).items():
        console.print(f"{key}: {value}")


def tier_text(tier: str | None) -> Text:
    return Text(tier or "below bronze", style=TIER_STYLE.get(tier or "", "dim"))


def _case(case: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in case.items())


def _rate(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    scale = {"B/s": (1e12, "TB/s"), "FLOP/s": (1e12, "TFLOP/s")}.get(unit)
    return f"{value / scale[0]:.3g} {scale[1]}" if scale else f"{value:.4g} {unit}"


def print_scoreboard(console: Console, grades: list[Grade], readiness: dict[str, Any]) -> None:
    """Fixed-width rows that fit 80 columns (rich tables squeeze columns unpredictably); a note
    too long for the rest of its row goes on the lines under it, wrapped, never cut."""
    impls = sorted({g.check.impl.split(":")[0] for g in grades})
    w = max([len("problem"), *(len(g.check.problem) for g in grades)])
    console.print(Text(f"Kernel Dojo scoreboard · {', '.join(impls)}", style="bold"))
    console.print(
        Text(f"{'problem':<{w}}  {'verdict':<13}  score  {'tier':<12}  {'perf':>6}  note", "dim")
    )
    for g in grades:
        measured = g.perf.get("status") == "measured"
        note = (
            g.perf.get("device", "") + _spread(g.perf)
            if measured
            else (g.perf.get("message", "") if g.check.verdict == "passed" else g.check.message)
        )
        score = "n/a" if g.score is None else str(g.score)
        tier = tier_text(g.tier) if measured else Text("—", style="dim")
        line = Text(f"{g.check.problem:<{w}}  ")
        line.append_text(_pad(verdict_text(g.check.verdict), 13))
        line.append(f"  {score:>5}  ")
        line.append_text(_pad(tier, 12))
        line.append(f"  {perf_value(g.perf.get('fraction') if measured else None):>6}  ")
        note = _first(note)
        if len(line.plain) + len(note) <= console.width:
            console.print(line + Text(note, style="dim"), no_wrap=True)
        else:
            line.rstrip()
            console.print(line, no_wrap=True, overflow="fold")
            hang(console, Text("    "), note, "dim")
    console.print(
        f"readiness: {readiness['correct']:.0%} correct · "
        f"{readiness['at_bronze']:.0%} at bronze or better · "
        f"{readiness['at_gold']:.0%} at gold  ({readiness['problems']} problems)"
    )


def _spread(perf: dict[str, Any]) -> str:
    """For a tier the measurement cannot settle: the interval of the case that crosses a bar."""
    rows = [c for c in perf.get("cases", []) if c.get("uncertain") and c.get("ci95")]
    if not rows:
        return ""
    lo, hi = rows[0]["ci95"]
    return f" · uncertain: 95% CI {lo:.3g}-{hi:.3g} crosses a bar"


def perf_value(value: float | None) -> str:
    """At most 6 characters: 0.901 (a fraction of copy), 45.1 (a CPU speedup), 1234."""
    if value is None:
        return "—"
    return f"{value:.0f}" if value >= 1000 else f"{value:.3g}"


def _pad(text: Text, width: int) -> Text:
    return text + Text(" " * max(0, width - len(text.plain)))


def print_list(console: Console, rows: list[dict[str, Any]]) -> None:
    """`dojo list`: the short columns on one line, the title and your last result under them
    (on two lines when one is too narrow), so that 80 columns fit whatever the title."""
    w = max(len(r["problem"]) for r in rows)
    where = max(len("runs here"), *(len(r["runs_here"]) for r in rows))
    head = f" #  {'problem':<{w}}  level   lang    {'runs here':<{where}}"
    console.print(Text(head.rstrip() + "\n    title · your last result", style="bold"))
    for r in rows:
        line = f"{r['order']:>2}  {r['problem']:<{w}}  {r['difficulty']:<6}  {r['language']:<6}  "
        console.print(Text(line + r["runs_here"]), no_wrap=True, overflow="fold")
        last = f"last: {r['last']}" if r["last"] else ""
        if last and 4 + len(r["title"]) + 3 + len(last) <= console.width:
            hang(console, Text("    "), f"{r['title']} · {last}", "dim")
        else:  # fields whole, one a line, rather than a date broken in two
            for field in filter(None, (r["title"], last)):
                hang(console, Text("    "), field, "dim")
    console.print(
        Text("dojo show <problem>: the statement · dojo check <problem>: grade it", style="dim")
    )
