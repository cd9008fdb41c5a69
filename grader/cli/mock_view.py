"""What `dojo mock` prints besides the status line: the plan, the key points of an answer and
its follow-ups, a submit's verdict, a report and the history of past sessions."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from grader.bank import questions as qb
from grader.mock import clock, history, report
from grader.mock.plan import Item


def print_plan(
    console: Console, items: tuple[Item, ...], minutes: int, seed: int, strict: bool
) -> None:
    console.print(f"plan for {minutes} minutes (seed {seed}{', strict' if strict else ''}):")
    for n, it in enumerate(items, 1):
        line = f"{n:>2}. {clock.fmt(it.budget_s):>6}  {it.kind:<7} {it.ref}: {it.title}"
        console.print(line[:79], markup=False)


def print_key_points(console: Console, points: tuple[str, ...], checks: Any) -> None:
    """The key points numbered for marking, each with the keyword assist's guess beside it."""
    console.print("key points (keyword assist beside each; you decide):")
    for n, (p, c) in enumerate(zip(points, checks), 1):
        console.print(f"{n}. [{'words found' if c else 'not found  '}] {p}", markup=False)


def print_recorded(console: Console, q: qb.Question, marks: tuple[int, ...], total: int) -> None:
    """What the answer scored, then the question's follow-ups to think through."""
    console.print(f"recorded: {len(marks)}/{total} key points. Follow-ups to think through:")
    for f in getattr(q, "follow_ups", ()):
        console.print(f"- {_follow_up_text(f)}", markup=False)
    console.print(f"the full answer: dojo questions show {q.id}; `dojo mock next` moves on")


def _follow_up_text(f) -> str:
    """A follow-up as today's plain string, or (after the bank's schema grows answered
    follow-ups) its question field, whether an object or a table."""
    if isinstance(f, dict):
        return str(f.get("question", f.get("q", f)))
    return str(getattr(f, "question", f))


def print_submit(console: Console, result: dict[str, Any]) -> None:
    score = "-" if result["score"] is None else f"{result['score']}/100"
    console.print(f"{result['verdict']} · score {score} · {result['message']}")


def print_report(console: Console, rep: dict[str, Any]) -> None:
    for line in report.lines(rep):
        console.print(line, markup=False, highlight=False)


def print_history(
    console: Console, rows: list[dict[str, Any]], weak: list[tuple[str, float, int]]
) -> None:
    """The table of past sessions, the trend of their scores, the weakest areas."""
    for line in history.table(rows):
        console.print(line, markup=False)
    console.print(f"trend: {history.sparkline([r['overall'] for r in rows])}")
    console.print("weakest: " + ", ".join(f"{k} ({m:.0f}, {n}x)" for k, m, n in weak))
