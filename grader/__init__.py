"""Kernel Dojo's grader, in subpackages by job: runtime (the leaf solutions import), problem,
harness, sandbox, perf, bank and cli. README.md's repository map says what each holds."""
