"""Kernel Dojo's grader: problem registry, sandboxed check/bench/grade and the `dojo` CLI."""

from grader.registry import ROOT, all_problems, get_problem

__all__ = ["ROOT", "all_problems", "get_problem"]
