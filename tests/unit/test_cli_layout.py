"""The CLI's human output at 80 columns and through a pipe: no line wider than 80, and nothing
cut (every title, test name and note appears whole, wrapped under its column if need be)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from grader.cli import common, report
from grader.cli.app import app
from grader.perf.grade import Grade
from grader.problem.registry import ROOT, all_problems
from grader.problem.stubs import shipped_text
from grader.sandbox.verdict import Check, CheckResult

PROBLEMS = all_problems()


@pytest.fixture(autouse=True)
def _eighty_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(common.out, "_width", 80)


def _fits(text: str) -> str:
    """The text with its wraps undone, once every line is known to fit 80 columns."""
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, f"{len(wide)} lines over 80 columns, first: {wide[0]!r}"
    assert "…" not in text, "something was cut with an ellipsis"
    return " ".join(text.split())


def _whole(text: str, *pieces: str) -> None:
    cut = [p for p in pieces if " ".join(p.split()) not in text]
    assert not cut, f"cut or missing: {cut[:3]}"


def test_list_fits_and_shows_every_title_whole():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    _whole(_fits(result.stdout), *(p.title for p in PROBLEMS))


def test_list_through_a_pipe_fits_80_columns():
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["XDG_DATA_HOME"] = env.get("XDG_DATA_HOME", "/nonexistent-dojo")
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "list"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    _whole(_fits(proc.stdout), *(p.title for p in PROBLEMS))


def test_check_rows_of_radix_tree_fit_with_whole_test_names():
    source = (ROOT / "problems" / "radix_tree" / "test_radix_tree.py").read_text()
    names = re.findall(r"^def (test_\w+)", source, re.M)
    checks = [Check(n, "passed", cases=15, passed=15) for n in names]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    report.print_check(console, CheckResult("radix_tree", "solution", "passed", "ok", checks))
    _whole(
        _fits(console.export_text()), *(n.removeprefix("test_").replace("_", " ") for n in names)
    )


def test_scoreboard_fits_with_long_notes_and_wide_perf_values():
    long_note = (
        "needs a CUDA GPU (2 checks did not run here): run it on a GPU machine for a verdict"
    )
    grades = [
        Grade(CheckResult("warp_reduce", "attempt", "needs_gpu", long_note)),
        Grade(
            CheckResult("moe_dispatch", "attempt", "passed", "ok"),
            {"status": "measured", "fraction": 45.12345, "tier": "silver", "device": "cpu"},
        ),
        Grade(
            CheckResult("radix_tree", "attempt", "passed", "ok"),
            {"status": "measured", "fraction": 1234.5, "tier": "gold", "device": "cpu"},
        ),
    ]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    ready = {"problems": 3, "correct": 2 / 3, "at_bronze": 2 / 3, "at_gold": 1 / 3}
    report.print_scoreboard(console, grades, ready)
    text = console.export_text()
    _whole(_fits(text), long_note, "45.1", "1234")
    rows = [line for line in text.splitlines() if line.startswith(("moe", "radix"))]
    assert len({line.index("cpu") for line in rows}) == 1, f"note column moved: {rows}"


def test_scoreboard_says_when_a_tier_is_uncertain_and_shows_the_spread():
    case = {"fraction": 4.7, "ci95": [3.89, 5.89], "uncertain": True}
    perf = {"status": "measured", "fraction": 4.7, "tier": None, "device": "cpu"}
    grades = [
        Grade(CheckResult("spec_decode", "attempt", "passed", "ok"), {**perf, "cases": [case]}),
        Grade(CheckResult("moe_dispatch", "attempt", "passed", "ok"), {**perf, "cases": []}),
    ]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    ready = {"problems": 2, "correct": 1.0, "at_bronze": 0.0, "at_gold": 0.0}
    report.print_scoreboard(console, grades, ready)
    text = _fits(console.export_text())
    assert "uncertain: 95% CI 3.89-5.89 crosses a bar" in text, text
    assert text.count("uncertain") == 1, text  # a settled tier says nothing more


def test_a_long_failing_test_id_breaks_between_its_parameters_never_inside_one():
    test_id = "test_matches_reference_on_fixed_cases[B=1-Hkv=1-group=1-D=64-S=16-seq_len=1-float32]"
    check = Check("test_matches_reference_on_fixed_cases", "failed", cases=1, message="bad")
    result = CheckResult("paged_attention", "attempt", "failed", f"{test_id}: bad", [check])
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    report.print_check(console, result)
    lines = console.export_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("first failure: "))
    assert all(len(line) <= 80 for line in lines), lines
    head, tail = lines[at].removeprefix("first failure: "), lines[at + 1]
    assert head.endswith("-") and tail.startswith(" " * 15) and head + tail.strip() == test_id


def test_the_detail_shown_is_the_check_that_decided_the_verdict():
    """route failed first, moe_forward then raised: the verdict is error, and its lines (the
    attempt's own frames under the message) are what is shown, not route's failure."""
    raised = "moe_forward raised RuntimeError: scatter() (a.py:40)\n  a.py:40 in dispatch: x"
    checks = [
        Check("test_route_matches", "failed", cases=1, message="ids has dtype torch.int32"),
        Check("test_moe_forward_matches", "error", cases=1, message=raised),
    ]
    message = "test_moe_forward_matches[T=1]: moe_forward raised RuntimeError: scatter() (a.py:40)"
    result = CheckResult("moe_dispatch", "attempt", "error", message, checks)
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    report.print_check(console, result)
    text = console.export_text()
    assert "first failure: test_moe_forward_matches[T=1]" in text
    assert "  a.py:40 in dispatch: x" in text and "ids has dtype" not in text, text


def test_bench_says_an_uncertain_tier_goes_by_the_intervals_low_end():
    """A median of 5.015 over the bronze bar of 5, shown below bronze: the line says why."""
    row = {"case": {"T": 2048}, "median_ms": 208.2, "achieved": 4.8, "unit": "calls/s"}
    row.update(baseline_value=0.99, fraction=5.015, tier=None, ci95=[3.53, 6.89], uncertain=True)
    bench = {"status": "measured", "problem": "moe_dispatch", "impl": "attempt", "device": "cpu"}
    bench.update(metric="speedup", baseline="reference", bars={"bronze": 5.0}, cases=[row])
    bench.update(fraction=5.015, tier=None)
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    report.print_bench(console, bench)
    text = _fits(console.export_text())
    assert "3.53 to 6.89 (uncertain: it crosses a bar, so the tier is its low end's)" in text


def _stub_root(tmp_path, slugs: list[str]):
    """A checkout of these problems with their stubs as committed (not your attempts)."""
    for slug in slugs:
        src, dst = ROOT / "problems" / slug, tmp_path / "root" / "problems" / slug
        dst.mkdir(parents=True)
        shutil.copy(src / "problem.toml", dst / "problem.toml")
        for name in ("attempt.py", "attempt.cu"):
            text = shipped_text(ROOT, f"problems/{slug}/{name}")
            if text is None and (src / name).exists():
                text = (src / name).read_text()
            if text is not None:
                (dst / name).write_text(text)
    return tmp_path / "root"


def test_grade_all_over_stubs_fits_and_keeps_each_note_whole(tmp_path):
    root = _stub_root(tmp_path, ["warp_reduce", "moe_dispatch", "spec_decode"])
    result = CliRunner().invoke(app, ["--root", str(root), "grade", "--all"])
    assert result.exit_code == 1, result.output  # stubs are not attempted
    text = _fits(result.stdout)
    assert "attempt.cu still contains the DOJO_STUB line: delete it when you start" in text
    assert "route, dispatch, combine, moe_forward still raise NotImplementedError" in text
