"""The CLI's one console and error convention: results on stdout, warnings and errors on
stderr as one line each, usage errors exit 2, machine output as JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

EXIT_FAILED = 1  # a verdict other than passed, a bank that does not validate
EXIT_USAGE = 2  # unknown problem, malformed problem.toml, a bad option value
EXIT_NEEDS_GPU = 3  # the verdict could not be decided on this machine

out = Console(highlight=False)  # rich resolves sys.stdout at write time: CliRunner captures it
err = Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err.print(Text.assemble(("warning: ", "yellow"), message), soft_wrap=True)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=1) + "\n")
