"""`python -m grader` is `dojo`."""

from grader.cli.app import main

main()
