"""The `dojo` command: the root typer app and every command registered on it."""

from __future__ import annotations

from pathlib import Path

import typer

from grader.cli import bank, calibrate, engine, mock, problems
from grader.runtime.paths import ROOT

app = typer.Typer(
    help="Kernel Dojo: practise GPU-kernel and LLM-inference interview problems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    root: Path = typer.Option(ROOT, hidden=True, help="the Kernel Dojo checkout to read"),
) -> None:
    ctx.obj = root


app.command("list")(problems.list_cmd)
app.command("show")(problems.show)
app.command("check")(problems.check)
app.command("bench")(problems.bench)
app.command("grade")(problems.grade_cmd)
app.command("hint")(problems.hint)
app.command("doctor")(problems.doctor)
app.command("calibrate")(calibrate.calibrate_cmd)
app.command("new")(problems.new)
app.add_typer(bank.questions_app, name="questions", help="Browse and search the question bank.")
app.command("quiz")(bank.quiz)
app.add_typer(engine.engine_app, name="engine")
app.add_typer(
    mock.mock_app, name="mock", help="Timed mock interviews; with no command: where you are."
)


def main() -> None:
    app()
