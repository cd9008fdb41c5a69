"""Finds problems under problems/<slug>/problem.toml; one clear error for an unknown slug."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import cache
from pathlib import Path

from grader.problem.load import load_problem
from grader.problem.spec import Problem, SpecError
from grader.runtime.paths import ROOT


class UnknownProblem(LookupError):
    """str() is the one line shown to the user."""


def problem_dirs(root: Path = ROOT) -> list[Path]:
    base = root / "problems"
    return (
        sorted(p for p in base.iterdir() if (p / "problem.toml").is_file()) if base.is_dir() else []
    )


@cache
def _load(toml_path: Path) -> Problem:
    return load_problem(toml_path)


def get_problem(slug: str, root: Path = ROOT) -> Problem:
    toml_path = root / "problems" / slug / "problem.toml"
    if not toml_path.is_file():
        known = [d.name for d in problem_dirs(root)]
        close = difflib.get_close_matches(slug.lower().replace("-", "_"), known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "run `dojo list` to see them"
        raise UnknownProblem(f"unknown problem '{slug}': {hint}")
    return _load(toml_path)


def all_problems(root: Path = ROOT, skip: Callable[[str], None] | None = None) -> list[Problem]:
    """Every problem, in curriculum order. A malformed problem.toml raises SpecError, or, given
    `skip`, is left out after skip(its one-line error), so one broken problem stops no other."""
    problems = []
    for d in problem_dirs(root):
        try:
            problems.append(_load(d / "problem.toml"))
        except SpecError as e:
            if skip is None:
                raise
            skip(f"skipped problems/{d.name}: {e}")
    return sorted(problems, key=lambda p: (p.order, p.slug))


__all__ = ["ROOT", "Problem", "SpecError", "UnknownProblem", "all_problems", "get_problem"]
