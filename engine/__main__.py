"""`torchrun --nproc-per-node W -m engine ...`: each rank's entry point; the command itself
lives with the rest of the CLI, in grader/cli/engine_rank.py."""

import sys

from grader.cli.engine_rank import main

sys.exit(main())
