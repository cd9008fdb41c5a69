"""Every problem is one slug in four places, with a statement in the fixed section order, a
stub that is not attempted, fixed cases at the edges and hints; the repo has its CI files."""

from __future__ import annotations

import re

import pytest

from grader.problem.impls import solution_backends
from grader.problem.registry import ROOT, all_problems

PROBLEMS = all_problems()
SECTIONS = [
    "Task",
    "Math",
    "Inputs and outputs",
    "Constraints",
    "Hints",
    "Speed of light and perf bars",
    "How to check",
]


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.slug)
def test_problem_lives_in_four_places(p):
    assert (ROOT / "problems" / p.slug / "attempt.py").is_file()
    assert (ROOT / "problems" / p.slug / f"test_{p.slug}.py").is_file()
    assert (ROOT / "reference" / f"{p.slug}.py").is_file()
    assert solution_backends(p), f"solutions/{p.slug}/ has no solution"
    if p.language == "cuda":
        assert (ROOT / "problems" / p.slug / "attempt.cu").is_file()


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.slug)
def test_readme_has_the_sections_in_order(p):
    text = (ROOT / "problems" / p.slug / "README.md").read_text()
    found = re.findall(r"^## (.+)$", text, re.M)
    assert [s for s in found if s in SECTIONS] == SECTIONS, f"{p.slug}: sections {found}"


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.slug)
def test_stub_raises_not_implemented_or_carries_the_stub_marker(p):
    text = (ROOT / "problems" / p.slug / "attempt.py").read_text()
    cu = ROOT / "problems" / p.slug / "attempt.cu"
    assert "NotImplementedError" in text or (cu.exists() and "DOJO_STUB" in cu.read_text())


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.slug)
def test_fixed_cases_cover_one_and_both_sides_of_a_power_of_two(p):
    """Sizes 1, 2^k - 1, 2^k and 2^k + 1 (k >= 4) appear among some integer case field."""
    sizes = {v for c in p.cases for k, v in c.items() if isinstance(v, int) and k != "offset"}
    if not sizes:
        pytest.skip(f"{p.slug} cases have no integer sizes")
    assert 1 in sizes, f"{p.slug}: no case of size 1 among {sorted(sizes)}"
    assert any({2**k - 1, 2**k, 2**k + 1} <= sizes for k in range(4, 32)), (
        f"{p.slug}: no 2^k - 1, 2^k, 2^k + 1 triple among {sorted(sizes)}"
    )


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.slug)
def test_hint_ladder_and_mock_budget_are_set(p):
    assert len(p.hints) >= 3, p.slug
    assert 10 <= p.mock_minutes <= 120, p.slug


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^(pip install -e '\.\[test\]'.*pytest.*)$", readme, re.M)
    assert command, "README has no test command line starting with pip install -e '.[test]'"
    assert command.group(1) in ci, ".ci/run must run exactly README's test command"


def test_readme_results_table_is_generated_from_results_json():
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- results:start -->\n(.*?)\n<!-- results:end -->", readme, re.S)
    assert table, "README has no <!-- results:start --> ... <!-- results:end --> section"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "results_table.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert table.group(1).strip() == proc.stdout.strip(), (
        "README's results table differs from `python scripts/results_table.py`: regenerate it"
    )
