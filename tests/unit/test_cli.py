"""The `dojo` commands through typer's CliRunner, as a person (or a script) would call them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from grader.cli.app import app
from grader.cli.report import next_step
from grader.perf import grade as grade_mod
from grader.problem.complete import missing_parts
from grader.problem.impls import import_file
from grader.problem.registry import ROOT, all_problems, get_problem
from grader.problem.scaffold import LANGS
from grader.problem.stubs import shipped_text
from grader.sandbox import calibration
from grader.sandbox.verdict import CheckResult

runner = CliRunner()


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _json(args: list[str]) -> tuple[int, dict]:
    result = runner.invoke(app, args)
    return result.exit_code, json.loads(result.stdout)


def test_list_json_names_every_problem_with_where_it_runs():
    code, data = _json(["list", "--json"])
    assert code == 0 and data["schema"] == 1
    rows = {r["problem"]: r for r in data["problems"]}
    assert {"rms_norm", "warp_reduce", "radix_tree"} <= set(rows)
    assert rows["rms_norm"]["language"] == "triton" and rows["rms_norm"]["runs_here"]


def test_list_table_shows_titles():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "RMSNorm" in result.stdout


def test_show_prints_statement_signature_bars_and_implementations():
    result = runner.invoke(app, ["show", "rms_norm"])
    assert result.exit_code == 0
    for words in ("Task", "signature", "gold 0.9", "wrong:mean_over_block", "hints"):
        assert words in result.stdout, words


def test_check_json_follows_the_schema_and_exit_code_follows_the_verdict():
    code, data = _json(["check", "rms_norm", "--impl", "solution", "--json", "-x"])
    assert code == 0 and data["verdict"] == "passed"
    assert set(data) >= {"schema", "problem", "impl", "verdict", "checks", "message"}
    timed, why = calibration.load(get_problem("rms_norm"), ROOT)  # a passing solution calibrates
    assert timed is not None and timed.impl == "solution:triton", why
    code, data = _json(["check", "rms_norm", "--impl", "wrong:mean_over_block", "--json", "-x"])
    assert code == 1 and data["verdict"] == "failed" and "differ" in data["message"]
    assert calibration.load(get_problem("rms_norm"), ROOT)[0] == timed  # other impls do not


def _root_with_shipped_stub(tmp_path, slug: str):
    """A checkout holding one problem with its stub as committed: what you wrote in your own
    attempt.py does not change this test."""
    src, dst = ROOT / "problems" / slug, tmp_path / "root" / "problems" / slug
    dst.mkdir(parents=True)
    for name in ("problem.toml", "README.md"):
        shutil.copy(src / name, dst / name)
    stub = shipped_text(ROOT, f"problems/{slug}/attempt.py")
    (dst / "attempt.py").write_text(stub if stub is not None else (src / "attempt.py").read_text())
    return tmp_path / "root"


def test_check_of_the_stub_says_not_attempted_at_once_and_list_shows_it(tmp_path):
    root = _root_with_shipped_stub(tmp_path, "rms_norm")
    start = time.perf_counter()
    result = runner.invoke(app, ["--root", str(root), "check", "rms_norm", "-x"])
    assert result.exit_code == 1 and "NOT ATTEMPTED" in result.stdout, result.output
    assert "rms_norm still raises NotImplementedError" in result.stdout
    assert time.perf_counter() - start < 5, "a stub is found without starting pytest"
    code, data = _json(["--root", str(root), "list", "--json"])
    last = {r["problem"]: r["last"] for r in data["problems"]}
    assert last["rms_norm"].startswith("not_attempted")


def test_a_bad_impl_is_a_one_line_usage_error():
    for command in ("check", "bench", "grade"):
        result = runner.invoke(app, [command, "rms_norm", "--impl", "wrong:nope"])
        assert result.exit_code == 2, (command, result.output)
        assert result.output.count("\n") == 1 and "wrong:eps_outside_sqrt" in result.output


def test_check_on_a_gpu_only_problem_says_needs_gpu_with_its_own_exit_code():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the verdict is decided here")
    code, data = _json(["check", "warp_reduce", "--impl", "solution", "--json"])
    assert code == 3 and data["verdict"] == "needs_gpu"
    assert all(c["status"] != "passed" for c in data["checks"] if not c["static"])


def test_bench_without_a_gpu_reports_needs_gpu_not_a_number():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, data = _json(["bench", "rms_norm", "--impl", "solution", "--json"])
    assert code == 3 and data["status"] == "needs_gpu" and "fraction" not in data


@pytest.mark.parametrize(
    ("slug", "attempt", "words"),
    [
        (
            "online_softmax",
            "rules_softmax_through_an_alias",
            ":8 calls torch.nn.functional.softmax",
        ),
        ("rms_norm", "reports_its_own_time", ":14 uses '__main__' — attempts may not reach into"),
    ],
)
def test_bench_never_times_an_attempt_that_breaks_the_rules(slug, attempt, words, monkeypatch):
    """On any machine, before a driver starts: its time would be torch's own op, or whatever
    its own clock said."""
    monkeypatch.setattr(grade_mod, "run_process", lambda *a, **k: pytest.fail("it was timed"))
    path = ROOT / "tests" / "sandbox" / "bad_attempts" / f"{attempt}.py"
    code, data = _json(["bench", slug, "--impl", str(path), "--json"])
    assert code == 1 and data["status"] == "failed" and "fraction" not in data
    assert data["message"].startswith("not benchmarked: rules: tests/sandbox/bad_attempts/")
    assert words in data["message"] and "\n" not in data["message"]


def test_grade_json_has_score_tier_and_readiness():
    code, data = _json(["grade", "rms_norm", "--impl", "solution", "--json", "-x"])
    assert code == 0 and data["schema"] == 1
    (row,) = data["results"]
    assert set(row) >= {"problem", "impl", "verdict", "score", "tier", "perf"}
    assert row["verdict"] == "passed" and row["score"] >= 60
    assert 0 <= data["readiness"]["correct"] <= 1


def test_grade_scores_a_wrong_answer_zero():
    code, data = _json(["grade", "rms_norm", "--impl", "wrong:eps_outside_sqrt", "--json", "-x"])
    assert code == 1 and data["results"][0]["score"] == 0


def test_grade_all_save_keeps_what_a_cut_short_run_graded(tmp_path, monkeypatch):
    """--save is rewritten after each problem: a run stopped at the third (an H200 call's
    timeout once lost a whole --all run) leaves the first two, marked partial."""
    from grader.cli import problems as cli_problems
    from grader.perf.grade import Grade

    calls = []

    def fake_grade(p, impl, fail_fast=False):
        calls.append(p.slug)
        if len(calls) == 3:
            raise KeyboardInterrupt
        check = CheckResult(p.slug, impl, "passed", "1 check passed", [], 0.1)
        return Grade(check, {"status": "needs_gpu", "message": "no GPU"})

    monkeypatch.setattr(cli_problems, "grade", fake_grade)
    out = tmp_path / "run.json"
    result = runner.invoke(app, ["grade", "--all", "--impl", "solution", "--save", str(out)])
    assert result.exit_code != 0 and len(calls) == 3
    data = json.loads(out.read_text())
    assert [r["problem"] for r in data["results"]] == calls[:2]
    assert data["partial"].startswith(f"2 of {len(all_problems())} problems graded")


def test_grade_needs_one_slug_or_all():
    result = runner.invoke(app, ["grade"])
    assert result.exit_code == 2 and "give one problem slug or --all" in result.output


def test_hint_reveals_one_more_each_time_and_resets():
    first = runner.invoke(app, ["hint", "rms_norm"]).stdout
    second = runner.invoke(app, ["hint", "rms_norm"]).stdout
    assert "1/" in first and "2/" not in first and "2/" in second
    runner.invoke(app, ["hint", "rms_norm", "--reset"])
    assert "2/" not in runner.invoke(app, ["hint", "rms_norm"]).stdout


def test_doctor_json_says_what_this_machine_has():
    code, data = _json(["doctor", "--json"])
    assert code == 0 and data["torch"] == torch.__version__
    assert data["cuda_available"] == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert data["triton_mode"].startswith("interpreter")


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_new_scaffolds_a_working_example_problem(tmp_path, lang):
    result = runner.invoke(app, ["--root", str(tmp_path), "new", "scale_it", "--lang", lang])
    assert result.exit_code == 0, result.output
    from grader.problem.load import load_problem

    problem = load_problem(tmp_path / "problems" / "scale_it" / "problem.toml")
    assert problem.language == lang and problem.entry == ("scale_it",)
    ref = import_file(tmp_path / "reference" / "scale_it.py", f"scaffold_ref_{lang}")
    wrong = import_file(
        tmp_path / "solutions" / "scale_it" / "wrong_forgets_factor.py", f"scaffold_wrong_{lang}"
    )
    x = torch.randn(7)
    assert torch.equal(ref.scale_it(x), 2 * x) and not torch.equal(wrong.scale_it(x), 2 * x)
    if lang in ("torch", "python"):
        sol = import_file(
            tmp_path / "solutions" / "scale_it" / f"{LANGS[lang]}.py", f"scaffold_sol_{lang}"
        )
        assert torch.equal(sol.scale_it(x), 2 * x)
    again = runner.invoke(app, ["--root", str(tmp_path), "new", "scale_it", "--lang", lang])
    assert again.exit_code == 2 and "already exists" in again.output


def test_new_rejects_a_bad_slug_and_language(tmp_path):
    bad = runner.invoke(app, ["--root", str(tmp_path), "new", "Bad-Slug", "--lang", "triton"])
    assert bad.exit_code == 2 and "snake_case" in bad.output
    bad = runner.invoke(app, ["--root", str(tmp_path), "new", "ok_slug", "--lang", "rust"])
    assert bad.exit_code == 2 and "--lang must be one of" in bad.output


def test_python_m_grader_without_its_dependencies_ends_in_one_line():
    code = (
        "import sys, runpy; sys.modules['typer'] = None; "
        "runpy.run_module('grader', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "no module 'typer'" in proc.stderr


def test_a_slug_in_capitals_gets_a_suggestion():
    result = runner.invoke(app, ["show", "RMS_NORM"])
    assert result.exit_code == 2 and "did you mean 'rms_norm'?" in result.output


def test_one_malformed_problem_toml_is_skipped_with_a_warning(tmp_path):
    root = _root_with_shipped_stub(tmp_path, "rms_norm")
    broken = root / "problems" / "broken"
    broken.mkdir()
    (broken / "problem.toml").write_text('title = "x"\norder = "first"\n')
    result = runner.invoke(app, ["--root", str(root), "list"])
    assert result.exit_code == 0 and "rms_norm" in result.stdout, result.output
    assert "warning: skipped problems/broken:" in result.output
    graded = runner.invoke(app, ["--root", str(root), "grade", "--all", "--json"])
    assert [r["problem"] for r in json.loads(graded.stdout)["results"]] == ["rms_norm"]
    assert (
        "must be an integer" in runner.invoke(app, ["--root", str(root), "show", "broken"]).output
    )


def test_next_step_fits_the_stub_language_and_the_hints_left():
    cuda = CheckResult("warp_reduce", "attempt", "not_attempted", "attempt.cu still contains …")
    assert "attempt.cu" in next_step(cuda) and "attempt.py" not in next_step(cuda)
    failed = CheckResult("rms_norm", "attempt", "failed", "outputs differ")
    assert "dojo hint" in next_step(failed, hints_left=1)
    assert "dojo hint" not in next_step(failed, hints_left=0)
    assert "solutions/{slug}/" in next_step(failed, hints_left=0)


def test_new_says_what_is_still_needed_with_absolute_paths_and_is_not_counted(tmp_path):
    root = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "questions", root / "questions")
    result = runner.invoke(app, ["--root", str(root), "new", "scale_it", "--lang", "torch"])
    assert result.exit_code == 0, result.output
    created = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if "created" in line]
    assert created and all(Path(c).is_absolute() and Path(c).is_file() for c in created)
    needed = [line for line in result.stdout.splitlines() if line.startswith("  - ")]
    assert len(needed) == 2 and "y = 2x example" in needed[0] and "3 more questions" in needed[1]
    assert str(root.resolve() / "questions") in needed[1]
    problem = get_problem("scale_it", root)
    assert missing_parts(problem, root), "a fresh scaffold is not complete"
    code, data = _json(["--root", str(root), "grade", "--all", "--impl", "solution", "--json"])
    assert data["incomplete"] == ["scale_it"] and data["readiness"]["problems"] == 0, data


@pytest.mark.parametrize("p", all_problems(), ids=lambda p: p.slug)
def test_every_shipped_problem_is_complete(p):
    assert missing_parts(p, ROOT) == [], f"{p.slug} is incomplete"


def test_show_reads_the_attempts_layout_without_importing_it_here(monkeypatch):
    """smem_transpose's layout report runs the attempt's smem_offset: in a worker, never in the
    CLI's own process (an attempt's import-time code must not run with the grader's rights)."""
    from grader.problem import impls

    def refuse(*args, **kwargs):
        raise AssertionError("the CLI process imported an implementation")

    monkeypatch.setattr(impls, "load", refuse)
    result = runner.invoke(app, ["show", "smem_transpose"])
    assert result.exit_code == 0, result.output
    assert "your attempt: smem layout" in result.output
