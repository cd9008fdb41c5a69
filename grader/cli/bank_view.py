"""What `dojo questions` and `dojo quiz` print: question rows that fit the screen or pipe into
grep, a question and its answer as Markdown, linked code, the pager, the quiz progress table."""

from __future__ import annotations

import os
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from grader.bank import codelinks
from grader.bank import questions as qb

STATS_COLS = {  # short headers so the table fits 80 columns; the legend spells them out
    "topic": "topic",
    "questions": "qs",
    "seen": "seen",
    "new": "new",
    "due": "due",
    "due_7d": "7d",
    "reviews": "revs",
    "retention": "recall",
    "mean_ef": "EF",
}
STATS_LEGEND = (
    "qs questions · 7d due within 7 days · revs reviews · recall share of reviews graded 3+"
    " · EF mean easiness"
)


def _width(console: Console) -> int | None:
    """The screen width on a terminal (or when COLUMNS is set); None through a pipe."""
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console.width
    return None


def _fit(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def print_rows(
    console: Console, questions: list[qb.Question], scores: list[float] | None = None
) -> None:
    """One line per question. On a screen: topic headings, then id (whole), level and the title
    cut with an ellipsis to the width. Through a pipe: fixed space-padded columns (id, topic,
    level, kind, title) with full titles, one question a line, ready for grep and cut."""
    width, pad = _width(console), max((len(q.id) for q in questions), default=0)
    tpad = max((len(q.topic) for q in questions), default=0)
    lead = [f"{s:>5.1f}  " for s in scores] if scores else [""] * len(questions)
    topic = None
    for q, first in zip(questions, lead):
        if width is None:
            cells = f"{first}{q.id:<{pad}}  {q.topic:<{tpad}}  {q.difficulty:<6}  {q.kind:<7}  "
            console.print(cells + q.title, markup=False, soft_wrap=True)
            continue
        if not scores and q.topic != topic:
            topic = q.topic
            console.print(f"[bold]{escape(topic)}[/]")
        cells = f"{first}  {q.id:<{pad}}  {q.difficulty:<6}  "
        console.print(cells + _fit(q.title, width - len(cells)), markup=False, soft_wrap=True)


def prompt_md(q: qb.Question) -> str:
    """The question as asked, with its givens: what to answer before revealing anything."""
    return "## Question\n\n" + (q.prompt or q.title)


def reveal_md(q: qb.Question) -> str:
    """The answer in the order a reviewer checks it: the 60-second version, the key points,
    the deep answer, then the follow-ups with their answers."""
    parts = []
    if q.short:
        parts.append("## Short answer\n\n" + q.short)
    parts.append("## Key points\n\n" + "\n".join(f"- {k}" for k in q.key_points))
    parts.append("## Answer\n\n" + q.answer)
    if q.follow_ups:
        parts.append(
            "## Follow-ups\n\n" + "\n\n".join(f"**Q: {f.q}**\n\nA: {f.a}" for f in q.follow_ups)
        )
    return "\n\n".join(parts)


def print_code(console: Console, entry: str) -> None:
    link, note = codelinks.split_note(entry)
    found = codelinks.snippet(link)
    if found is None:
        console.print(f"[bold]code[/] {escape(link)} [red](not found)[/]")
        return
    path, first, source = found
    console.rule(escape(f"{link} (line {first})"))
    if note:
        console.print(f"[bold]note[/] {escape(note)}")
    lexer = (
        "python" if path.endswith(".py") else "cuda" if path.endswith((".cu", ".cuh")) else "cpp"
    )
    console.print(Syntax(source, lexer, line_numbers=True, start_line=first, word_wrap=True))


def print_paged(console: Console, renderable: Markdown) -> None:
    """On a terminal, an answer taller than the screen goes through the pager (so the prompt
    does not scroll away); through a pipe, or when it fits, it is printed as it is."""
    if console.is_terminal and len(console.render_lines(renderable, pad=False)) > console.height:
        with console.pager(styles="R" in os.environ.get("LESS", "")):  # colours only if less -R
            console.print(renderable)
    else:
        console.print(renderable)


def print_stats(console: Console, s: dict, path: Path) -> None:
    table = Table(title="quiz progress", header_style="bold", box=box.SIMPLE_HEAD)
    for col, head in STATS_COLS.items():
        table.add_column(head, justify="left" if col == "topic" else "right", no_wrap=True)
    for row in [*s["topics"], s["total"]]:
        cells = [
            "-" if row[c] is None else f"{row[c]:.0%}" if c == "retention" else str(row[c])
            for c in STATS_COLS
        ]
        table.add_row(*cells, style="bold" if row is s["total"] else None)
    console.print(table)
    console.print(STATS_LEGEND, markup=False)
    t = s["total"]
    console.print(escape(f"due now: {t['due']} · new: {t['new']} · progress file: {path}"))
