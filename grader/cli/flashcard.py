"""One flash card of `dojo quiz` at the terminal: the question, hints one rung at a time, the
answer (paged when taller than the screen), then a self-grade 0-5."""

from __future__ import annotations

import typer
from rich.markdown import Markdown
from rich.markup import escape

from grader.bank import questions as qb
from grader.bank import quiz as qz
from grader.cli.bank_view import print_paged, prompt_md, reveal_md
from grader.cli.common import out


def review(q: qb.Question, i: int, total: int) -> int | None:
    """The grade given to card i of total; None when the user stops (q)."""
    out.rule(f"{i}/{total} · {q.topic} · {q.difficulty} · {q.kind}")
    out.print(f"[bold]{escape(q.title)}[/]")
    out.print(Markdown(prompt_md(q)))
    if not _hint_ladder(q):
        return None
    print_paged(out, Markdown(reveal_md(q)))
    scale = ", ".join(f"{g} {what}" for g, what in qz.GRADES.items())
    while True:
        reply = _ask("grade 0-5 (? shows the scale, q stops)")
        if reply.lower() == "q":
            return None
        if reply.isdigit() and int(reply) in qz.GRADES:
            return int(reply)
        out.print(escape(scale if reply == "?" else f"'{reply}' is not a grade: type 0-5, ? or q"))


def _hint_ladder(q: qb.Question) -> bool:
    """Offer the hints one rung at a time (h) before the reveal (Enter); False when q stops."""
    shown = 0
    while True:
        left = len(q.hints) - shown
        offer = f"h next hint ({left} left), " if left else ""
        reply = _ask(f"Enter reveals the answer, {offer}q stops").lower()
        if reply == "q":
            return False
        if reply == "h" and left:
            shown += 1
            out.print(Markdown(f"**Hint {shown}/{len(q.hints)}:** {q.hints[shown - 1]}"))
        elif reply == "h":
            out.print("no more hints: Enter reveals the answer" if q.hints else "no hints here")
        else:
            return True


def _ask(text: str) -> str:
    return typer.prompt(text, default="", show_default=False).strip()
