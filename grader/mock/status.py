"""What `dojo mock` and its live countdown show: the current item, gauges of the item's and
the session's time, the warning reached, and what to do next."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from grader.mock import clock
from grader.mock.session import Session
from grader.runtime.paths import ROOT

STYLES = ("green", "yellow", "yellow", "bold red")  # by warning level


def text(s: Session, t: float) -> Text:
    """The status block for time `t`; an overrun shows as negative time left."""
    st, i = s.items[s.current], s.current
    used, budget = s.item_used(i, t), st.item.budget_s
    lvl = clock.level(used, budget)
    style = STYLES[lvl]
    out = Text(f"mock {s.id} · item {i + 1}/{len(s.items)} · {st.item.kind}: ", style="bold")
    out.append(f"{st.item.ref}\n")
    if st.item.kind == "coding" and s.running:
        out.append(_files(st.item.ref), "cyan")
    out.append(f"item    {clock.bar(used, budget)} {clock.fmt(budget - used)} left\n", style)
    left = s.total_s - s.active(t)
    out.append(
        f"session {clock.bar(s.active(t), s.total_s)} {clock.fmt(left)} left\n",
        STYLES[clock.level(s.active(t), s.total_s)],
    )

    s_lvl = clock.level(s.active(t), s.total_s)
    if lvl:
        out.append(f"item: {clock.WARNINGS[lvl]}\n", style)
    if s_lvl:
        out.append(f"session: {clock.WARNINGS[s_lvl]}\n", STYLES[s_lvl])
    if s.paused_at is not None:
        out.append("paused: `dojo mock resume` starts the clock again\n", "cyan")
    elif not s.running:
        out.append("ended: `dojo mock report`\n")
    else:
        verb = "submit" if st.item.kind == "coding" else "answer"
        out.append(f"next: dojo mock {verb} · hint · next · pause · end", "dim")
    return out


def _files(slug: str) -> str:
    """Where a coding item is written and stated, as paths that work from here."""
    d = ROOT / "problems" / slug
    edit = [_here(f) for f in (d / "attempt.py", d / "attempt.cu") if f.exists()]
    return f"edit      {' and '.join(edit)}\nstatement {_here(d / 'README.md')}\n"


def _here(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
