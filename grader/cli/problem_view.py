"""`dojo show` for people: the statement, signature and perf bars, then the implementations, the
hints and the linked questions; the console is passed in, as in peers_view.py."""

from __future__ import annotations

from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from grader.problem.spec import Problem


def print_statement(console: Console, p: Problem) -> None:
    """The README (or just the title), the signature, the entry points and each device's bars."""
    readme = p.path / "README.md"
    console.print(Markdown(readme.read_text()) if readme.exists() else f"# {p.title}")
    console.rule()
    console.print(Text.assemble(("signature ", "bold"), p.signature))
    console.print(
        f"[bold]entry[/] {', '.join(p.entry)}"
        + (f" (optional: {', '.join(p.optional)})" if p.optional else "")
    )
    for device, perf in p.perf.items():
        bars = ", ".join(f"{k} {v:g}" for k, v in perf.bars.items())
        console.print(f"[bold]perf ({device})[/] {perf.metric} vs {perf.baseline}: {bars}")


def print_menu(
    console: Console, p: Problem, slug: str, impls: list[str], questions: list[str]
) -> None:
    """What `--impl` can name, how many hints there are (`slug` as the user typed it), the mock
    length, the linked questions."""
    console.print(Text.assemble(("implementations ", "bold"), " ".join(impls)))
    console.print(
        f"[bold]hints[/] {len(p.hints)} (`dojo hint {slug}`) · "
        f"[bold]mock interview[/] {p.mock_minutes} min"
    )
    for q in questions:
        console.print(f"[bold]question[/] {q}")
