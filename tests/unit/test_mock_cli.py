"""`dojo mock` through typer's CliRunner with a fake clock and a fake grader: every command,
bad input as one line with exit 2, crashes between writes, and one real submit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader import store
from grader.bank import quiz
from grader.cli import mock as cli
from grader.cli.app import app
from grader.mock import session as ms
from grader.runtime.paths import ROOT

runner = CliRunner()
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self):
        self.t = T0

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeCheck:
    verdict: str
    message: str = "fake"


@dataclass
class FakeGrade:
    check: FakeCheck
    score: int | None
    tier: str | None = None
    perf: dict = field(default_factory=dict)


@pytest.fixture
def clk(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    fake = FakeClock()
    monkeypatch.setattr(cli, "now", fake)
    monkeypatch.setattr(cli, "cuda_count", lambda: 0)
    return fake


@pytest.fixture
def graded(monkeypatch):
    calls = []

    def fake_grade(problem, impl, root=None):
        calls.append(Path(impl))
        return FakeGrade(
            FakeCheck("passed", "12 checks passed"), 100, "gold", {"status": "measured"}
        )

    monkeypatch.setattr(cli, "grade", fake_grade)
    return calls


def dojo(*args, input=None):
    return runner.invoke(app, ["mock", *args], input=input)


def _start(*extra):
    r = dojo("start", "--problems", "rms_norm", "--questions", "2", "--seed", "3", "-y", *extra)
    assert r.exit_code == 0, r.output
    return ms.current(None, print)


def test_start_shows_the_plan_and_status_shows_the_countdown(clk):
    assert "no mock interview is running" in dojo().stdout
    r = dojo("start", "--minutes", "30", "--problems", "rms_norm", "--seed", "5", input="y\n")
    assert r.exit_code == 0 and "plan for 30 minutes (seed 5)" in r.stdout
    assert "rms_norm" in r.stdout and "the clock is running" in r.stdout
    clk.t += 61
    out = dojo().stdout
    assert "item 1/" in out and "session" in out and "28:59 left" in out
    assert "edit      " in out and "rms_norm/attempt.py" in out  # where to write it
    assert "statement " in out and "rms_norm/README.md" in out


def test_a_coding_items_files_are_named_from_any_directory(clk, monkeypatch, tmp_path):
    _start()
    monkeypatch.chdir(tmp_path)
    out = dojo().stdout
    assert f"edit      {ROOT / 'problems' / 'rms_norm' / 'attempt.py'}" in out
    assert f"statement {ROOT / 'problems' / 'rms_norm' / 'README.md'}" in out


def test_declining_the_plan_starts_nothing(clk):
    r = dojo("start", "--problems", "rms_norm", input="n\n")
    assert r.exit_code == 0 and "not started" in r.stdout
    assert ms.all_sessions(None, print) == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["--problems", "nope"], "unknown problem 'nope'"),
        (["--topic", "nope"], "unknown topic 'nope'"),
        (["--gpu-only"], "none of these problems can be graded on a GPU here"),
        (["--problems", "warp_reduce"], "none of these problems can be graded"),
        (["--gpu-only", "--cpu-only"], "exclude each other"),
        (["--minutes", "3"], "--minutes must be 10..240"),
    ],
)
def test_bad_start_options_are_one_line_and_exit_2(clk, args, words):
    r = dojo("start", "-y", *args)
    assert r.exit_code == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_starting_while_a_session_runs_is_refused(clk):
    s = _start()
    r = dojo("start", "-y")
    assert r.exit_code == 2 and f"session {s.id} is still running" in r.stderr


def test_commands_without_a_session_say_how_to_start_one(clk):
    for cmd in ("submit", "hint", "answer", "next", "pause", "resume", "end"):
        r = dojo(cmd)
        assert r.exit_code == 2 and "dojo mock start" in r.stderr, cmd


def test_submit_grades_a_snapshot_kept_in_the_session(clk, graded):
    s = _start()
    clk.t += 300
    r = dojo("submit")
    assert r.exit_code == 0 and "passed · score 100/100" in r.stdout
    snap = ms.session_path(s.id).parent / "submits" / "1-1" / "attempt.py"
    assert (
        graded == [snap] and snap.read_text() == (ROOT / "problems/rms_norm/attempt.py").read_text()
    )
    sub = ms.current(None, print).items[0].submits[0]
    assert (sub.verdict, sub.score, sub.tier, sub.measured, sub.at_s) == (
        "passed",
        100,
        "gold",
        True,
        300,
    )
    r = dojo("submit", str(ROOT / "reference" / "rms_norm.py"))
    assert graded[-1].name == "rms_norm.py" and graded[-1].parent.name == "1-2"


def test_a_submits_message_names_the_file_submitted_not_its_snapshot(clk, monkeypatch):
    def fake_grade(problem, impl, root=None):
        check = FakeCheck("error", f"rms_norm raised ValueError: no ({impl}:7)")
        return FakeGrade(check, 0, None, {"status": "skipped"})

    monkeypatch.setattr(cli, "grade", fake_grade)
    _start()
    source = ROOT / "problems" / "rms_norm" / "attempt.py"
    r = dojo("submit", str(source))
    assert f"({source}:7)" in r.stdout.replace("\n", "") and "submits/1-1/attempt" not in r.stdout


def test_a_cuda_submit_whose_kernel_file_is_missing_is_an_error_not_a_crash(
    clk, graded, tmp_path, monkeypatch
):
    monkeypatch.setattr(cli, "cuda_count", lambda: 1)
    assert dojo("start", "--problems", "warp_reduce", "--questions", "0", "-y").exit_code == 0
    lone = tmp_path / "mine" / "attempt.py"
    lone.parent.mkdir()
    lone.write_text((ROOT / "problems/warp_reduce/attempt.py").read_text())
    r = dojo("submit", str(lone))
    assert r.exit_code == 0 and "loads attempt.cu, which is not next to it" in r.stdout
    assert graded == []  # never graded
    r = dojo("submit")  # the real attempt: its attempt.cu is copied beside it
    snap = graded[0].parent
    assert sorted(p.name for p in snap.iterdir()) == ["attempt.cu", "attempt.py"]


def test_hints_cost_points_and_run_out(clk, graded):
    _start()
    r = dojo("hint")
    assert r.exit_code == 0 and "hint 1/" in r.stdout and "costs 5 points" in r.stdout
    assert ms.current(None, print).items[0].hints == 1


def test_answer_reads_the_text_then_the_marks_and_shows_follow_ups(clk):
    _start()
    assert dojo("answer").exit_code == 2  # a coding item
    assert dojo("next").exit_code == 0
    r = dojo("answer", input="eps goes inside the square root\nin fp32\n.\n9\n1,2\n")
    assert r.exit_code == 0, r.output
    assert "key points" in r.stdout and "numbered 1.." in r.stdout and "Follow-ups" in r.stdout
    st = ms.current(None, print).items[1]
    assert st.answer == "eps goes inside the square root\nin fp32" and st.hits == (0, 1)
    assert len(st.precheck) == len(st.points) >= 3
    assert dojo("answer", "--hits", "x", input="a\n.\n").exit_code == 2
    assert dojo("answer", input=".\n").exit_code == 2  # empty answer


def test_pause_resume_and_next_move_the_clock(clk):
    _start()
    clk.t += 100
    assert dojo("pause").exit_code == 0
    clk.t += 1000
    assert "paused" in dojo().stdout
    assert dojo("next").exit_code == 2
    assert dojo("resume").exit_code == 0
    clk.t += 50
    assert dojo("next").exit_code == 0
    s = ms.current(None, print)
    assert s.items[0].used_s == 150 and s.paused_s == 1000 and s.current == 1


def test_watch_redraws_until_interrupted(clk, monkeypatch):
    _start()
    ticks = []

    def fake_sleep(_):
        ticks.append(clk.t)
        clk.t += 1000
        if len(ticks) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "sleep", fake_sleep)
    r = dojo("--watch")
    assert r.exit_code == 0 and len(ticks) == 4 and "time is up" in r.stdout
    assert ticks == [T0 + 1000 * k for k in range(4)]
    assert ms.current(None, print).items[0].timed_out  # the time-out was recorded


def test_strict_refuses_pause_and_hint_and_ends_at_time_out(clk):
    _start("--strict")
    assert "cannot be paused" in dojo("pause").stderr
    assert "no hints" in dojo("hint").stderr
    clk.t += 45 * 60 + 1
    r = dojo("next")
    assert r.exit_code == 2 and "time is up" in r.stderr
    assert ms.all_sessions(None, print)[0].ended_at == clk.t
    assert dojo("report").exit_code == 0


def test_end_reports_and_hands_missed_questions_to_the_quiz(clk, graded):
    _start()
    dojo("submit")
    clk.t += 200
    r = dojo("end")
    assert r.exit_code == 0 and "overall" in r.stdout and "study next" in r.stdout
    cards = quiz.load_cards(quiz.progress_path(), print)
    s = ms.all_sessions(None, print)[0]
    assert set(cards) == set(s.handed_off) and len(s.handed_off) == 2
    rep = json.loads(dojo("report", "--json").stdout)
    assert rep["schema"] == 1 and rep["items"][0]["verdict"] == "passed"
    assert sorted(rep["quiz_cards"]) == sorted(s.handed_off)


def test_report_json_markdown_and_unknown_session(clk, graded, tmp_path):
    assert "no mock sessions yet" in dojo("report").stderr
    s = _start()
    md = tmp_path / "r.md"
    r = dojo("report", s.id, "--md", str(md))
    assert r.exit_code == 0 and md.read_text().startswith(f"# Mock interview {s.id}")
    r = dojo("report", "nope")
    assert r.exit_code == 2 and "no session 'nope'" in r.stderr


def test_history_lists_sessions_with_a_trend_and_writes_an_svg(clk, graded, tmp_path):
    assert "no finished mock sessions" in dojo("history").stdout
    for _ in range(2):
        _start()
        dojo("submit")
        clk.t += 100
        dojo("end")
        clk.t += 100
    svg = tmp_path / "trend.svg"
    r = dojo("history", "--svg", str(svg))
    assert r.exit_code == 0 and "trend:" in r.stdout and "weakest:" in r.stdout
    assert svg.read_text().startswith("<svg")
    data = json.loads(dojo("history", "--json").stdout)
    assert len(data["sessions"]) == 2


def test_a_corrupt_session_file_is_one_warning_line(clk):
    path = ms.session_path("20200101-000000")
    path.parent.mkdir(parents=True)
    path.write_text("{torn")
    r = dojo()
    assert r.exit_code == 0 and r.stderr.count("warning:") == 1 and "corrupt" in r.stderr
    assert "no mock interview is running" in r.stdout


def test_a_session_from_a_future_schema_is_one_error_line(clk):
    path = ms.session_path("20200101-000000")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": 99, "id": "x"}))
    r = dojo("start", "-y")
    assert r.exit_code == 2 and "newer Kernel Dojo" in r.stderr and "Traceback" not in r.output


@pytest.mark.parametrize("crash_after", [0, 1, 2])
def test_a_crash_between_any_two_writes_of_end_loses_nothing(clk, graded, monkeypatch, crash_after):
    _start()
    dojo("submit")
    clk.t += 100
    real, writes = store.save_json, []

    def flaky(path, data):
        if len(writes) == crash_after:
            raise KeyboardInterrupt  # the terminal is killed here
        writes.append(path)
        real(path, data)

    monkeypatch.setattr(store, "save_json", flaky)
    dojo("end")
    monkeypatch.setattr(store, "save_json", real)
    s = ms.all_sessions(None, print)[0]
    if s.running:  # the session write did not happen: doing it again finishes the job
        assert dojo("end").exit_code == 0
    s = ms.all_sessions(None, print)[0]
    assert not s.running and len(s.handed_off) == 2 and s.items[0].submits
    assert set(quiz.load_cards(quiz.progress_path(), print)) == set(s.handed_off)


@pytest.mark.parametrize("crash_after", [0, 1])
def test_a_crash_during_submit_leaves_a_session_that_submits_again(
    clk, graded, monkeypatch, crash_after
):
    s = _start()
    real, writes = store.save_json, []

    def flaky(path, data):
        if len(writes) == crash_after:
            raise KeyboardInterrupt
        writes.append(path)
        real(path, data)

    monkeypatch.setattr(store, "save_json", flaky)
    dojo("submit")
    monkeypatch.setattr(store, "save_json", real)
    assert dojo("submit").exit_code == 0
    st = ms.current(None, print).items[0]
    assert len(st.submits) == 2 - (crash_after == 0)
    assert (ms.session_path(s.id).parent / st.submits[-1].snapshot / "attempt.py").is_file()


def test_a_real_submit_grades_the_snapshot_with_the_sandboxed_grader(clk):
    _start("--questions", "0")
    r = dojo("submit", str(ROOT / "reference" / "rms_norm.py"))
    assert r.exit_code == 0, r.output
    sub = ms.current(None, print).items[0].submits[0]
    assert sub.verdict == "passed" and sub.score == 60 and sub.snapshot == "submits/1-1"


@pytest.mark.slow
@pytest.mark.parametrize("with_cu", [True, False])
def test_a_cuda_snapshot_is_graded_with_the_kernel_file_beside_it(tmp_path, with_cu):
    """The sandbox loads a path implementation where it lies, so the launcher's
    Path(__file__).with_name("attempt.cu") finds the copied kernel; without it the grader can
    only say 'error', which is why submit refuses such a snapshot before grading."""
    from grader.mock import snapshot
    from grader.problem.registry import get_problem
    from grader.sandbox.check import run_check

    problem = get_problem("warp_reduce")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("attempt.py", "attempt.cu")[: 2 if with_cu else 1]:
        (src / name).write_text((problem.path / name).read_text())
    copied, missing = snapshot.take(src / "attempt.py", tmp_path / "snap", problem.language)
    assert missing == ([] if with_cu else ["attempt.cu"])
    result = run_check(problem, str(copied), fail_fast=True)
    if with_cu:
        assert result.verdict == "not_attempted" and "DOJO_STUB" in result.message
    else:
        assert result.verdict == "error" and "attempt.cu" in result.message
