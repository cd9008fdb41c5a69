"""The typed half of `dojo mock answer`: the answer text (stdin up to a lone '.', or $EDITOR)
and which key points it covered; bad input is one line (exit 2)."""

from __future__ import annotations

import sys

import typer

from grader.cli.common import fail, out
from grader.mock import assist


def read_answer(editor: bool) -> str:
    if editor:
        text = typer.edit("\n") or ""
    else:
        out.print("type your answer; end it with a line holding only '.'", style="dim")
        lines = []
        for line in sys.stdin:
            if line.rstrip("\n") == ".":
                break
            lines.append(line)
        text = "".join(lines)
    if not text.strip():
        fail("the answer is empty: type it, then a line holding only '.'")
    return text.strip()


def marks(given: str | None, n: int) -> tuple[int, ...]:
    """The covered key points from --hits, else asked until the reply parses."""
    while True:
        reply = given if given is not None else typer.prompt("covered (e.g. 1,3 / all / none)")
        try:
            return assist.parse_marks(reply, n)
        except ValueError as e:
            if given is not None:
                fail(str(e))
            out.print(str(e))
