"""`python -m grader` is `dojo`."""

from grader.cli import main

main()
