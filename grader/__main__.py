"""`python -m grader` is `dojo`; a Python lacking its dependencies gets one line, no traceback."""

import sys

try:
    from grader.cli.app import main
except ModuleNotFoundError as e:  # a dependency, e.g. typer or torch, outside the venv
    if (e.name or "").split(".")[0] == "grader":
        raise
    sys.exit(
        f"error: {sys.executable} has no module '{e.name}' that the grader needs: activate the "
        "environment you installed Kernel Dojo in (README: the two commands) and run it again"
    )

main()
