"""When a problem is complete: what the suite asks of every problem beyond running (three
hints, two known-wrong variants, three linked questions, no scaffold example left), checked
from its files, so `dojo new` can say what is still needed and readiness counts only complete
problems. Each item names an absolute path, so it reads the same from any directory."""

from __future__ import annotations

from pathlib import Path

from grader.bank.questions import Bank, load_bank
from grader.problem.impls import wrong_variants
from grader.problem.spec import Problem

MIN_HINTS, MIN_WRONG, MIN_QUESTIONS = 3, 2, 3
EXAMPLE_MARKER = "<!-- dojo new: the y = 2x example; delete this line once replaced -->"


def missing_parts(problem: Problem, root: Path, bank: Bank | None = None) -> list[str]:
    """What the problem still lacks, one line each; empty when it is complete."""
    root, slug = root.resolve(), problem.slug
    todo = []
    readme = root / "problems" / slug / "README.md"
    if not readme.is_file() or EXAMPLE_MARKER in readme.read_text():
        todo.append(
            f"replace the y = 2x example (statement, reference, solutions, tests), then delete "
            f"the marker line of {readme}"
        )
    if len(problem.hints) < MIN_HINTS:
        todo.append(f"{MIN_HINTS - len(problem.hints)} more hints in {problem.toml_path}")
    wrong = len(wrong_variants(problem, root))
    if wrong < MIN_WRONG:
        todo.append(f"{MIN_WRONG - wrong} more {root / 'solutions' / slug}/wrong_<bug>.py")
    bank = bank or load_bank(root)
    linked = sum(slug in q.problems for q in bank.questions)
    if linked < MIN_QUESTIONS:
        todo.append(
            f"{MIN_QUESTIONS - linked} more questions in {root / 'questions'}/<topic>/ "
            f"listing '{slug}' under problems (CONTRIBUTING.md)"
        )
    return todo
