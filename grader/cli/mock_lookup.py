"""What a mock item refers to, read from the checkout: its problem or its question, or one error
line (exit 2) when the checkout no longer has it."""

from __future__ import annotations

from pathlib import Path

from grader.bank import questions as qb
from grader.cli.common import fail
from grader.problem.registry import UnknownProblem, get_problem
from grader.problem.spec import Problem, SpecError


def problem(root: Path, slug: str) -> Problem:
    try:
        return get_problem(slug, root)
    except (UnknownProblem, SpecError) as e:
        fail(str(e))


def question(root: Path, qid: str) -> qb.Question:
    try:
        return qb.load_bank(root).get(qid)
    except qb.QuestionError as e:
        fail(str(e))


def questions(root: Path) -> list[qb.Question]:
    return list(qb.load_bank(root).questions)
