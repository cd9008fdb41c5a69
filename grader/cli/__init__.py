"""The `dojo` command line: thin typer commands (app.py registers them) over plain functions."""
