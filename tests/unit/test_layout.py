"""Every problem is one slug in four places, with a statement in the fixed section order, a
stub that is not attempted, fixed cases at the edges and hints; the repo has its CI files."""

from __future__ import annotations

import re

import pytest

from grader.problem.impls import solution_backends
from grader.problem.registry import ROOT, all_problems
from grader.problem.stubs import shipped_text, stubbed_entries
from grader.runtime.cuda import STUB_MARKER

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


def _shipped(p, name: str) -> str | None:
    """The stub as committed (your edits to attempt.py do not count); the file itself outside
    a git checkout, where nothing else records what was shipped."""
    path = p.path / name
    committed = shipped_text(ROOT, f"problems/{p.slug}/{name}")
    return committed if committed is not None or not path.exists() else path.read_text()


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.slug)
def test_shipped_stub_is_not_attempted(p):
    """The stub as shipped is what `dojo check` calls not attempted, without running it."""
    cu = _shipped(p, "attempt.cu")
    if p.language == "cuda":
        assert cu is not None and STUB_MARKER in cu, f"{p.slug}: attempt.cu lacks {STUB_MARKER}"
    else:
        text = _shipped(p, "attempt.py")
        assert text is not None and stubbed_entries(text, p.entry), (
            f"{p.slug}: the shipped attempt.py is not a stub: every entry must end in "
            "`raise NotImplementedError(...)` after straight-line code only"
        )


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


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.slug)
def test_statement_cites_only_files_in_the_repository(p):
    text = (ROOT / "problems" / p.slug / "README.md").read_text()
    cited = set(re.findall(r"[\w./-]*/[\w.-]+\.(?:md|py|toml|json|cu)\b", text))
    cited |= set(re.findall(r"\b[A-Z]+\.md\b", text))  # DESIGN.md, PROBLEMS.md, ...
    missing = sorted(c for c in cited if not (ROOT / c).exists() and not (p.path / c).exists())
    assert not missing, f"{p.slug}/README.md cites files the repository does not have: {missing}"


def test_readme_installs_the_cpu_torch_of_ci_before_the_package():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    pin = re.search(r"pip install -q (torch==[\d.]+)", ci)
    assert pin, ".ci/run pins no torch"
    first = readme.find(f"pip install {pin.group(1)}\n")
    assert 0 <= first < readme.find("\npip install -e . &&"), f"README: {pin.group(1)} first"
    assert "index-url" not in readme


def test_readme_says_what_a_cpu_machine_can_reach():
    full = [p.slug for p in PROBLEMS if "cpu" in p.perf]
    checked = [p.slug for p in PROBLEMS if p.needs["correctness"] == "cpu" and "cpu" not in p.perf]
    gpu_only = [p.slug for p in PROBLEMS if p.needs["correctness"] != "cpu"]
    text = " ".join((ROOT / "README.md").read_text().split())
    assert f"{len(full)} of the {len(PROBLEMS)} problems can score 100 there" in text
    assert f"{len(checked)} cap at 60" in text and f"the {len(gpu_only)} CUDA C problems" in text
    assert all(slug in text for slug in full + checked + gpu_only)


def test_engine_stays_within_its_line_budget():
    """ENGINE.md: engine/ under 2,800 lines in all, tests and the CLI apart (the torchrun
    entry point's command lives in grader/cli/engine_rank.py)."""
    files = sorted((ROOT / "engine").rglob("*.py"))
    lines = {f.relative_to(ROOT): len(f.read_text().splitlines()) for f in files}
    biggest = ", ".join(f"{f} {n}" for f, n in sorted(lines.items(), key=lambda x: -x[1])[:3])
    assert sum(lines.values()) < 2800, f"engine/ has {sum(lines.values())} lines: {biggest}"
