"""Per-check time budgets: an infinite loop is stopped at its check's budget (not the 600 s cap)
and named; an honest but slow attempt within the factor passes; the calibration they come from
goes stale when the machine, the problem's files or the grader change."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from grader.cli.app import app
from grader.harness.strategies import case_id
from grader.problem.impls import resolve
from grader.problem.registry import ROOT, get_problem
from grader.sandbox import calibration
from grader.sandbox.budgets import Policy, from_calibration, plan
from grader.sandbox.calibration import Calibration, Stopwatch, Timing
from grader.sandbox.check import run_check

HERE = Path(__file__).parent
INFINITE = str(HERE / "bad_attempts" / "infinite_loop.py")
SLOW = str(HERE / "slow_attempts" / "python_row_loop.py")
RANDOM_CHECKS = (  # rms_norm's hypothesis-driven checks: one test id each
    "test_matches_reference_on_random_shapes",
    "test_accepts_any_leading_shape",
    "test_reads_the_rows_of_a_view_at_their_stride",
    "test_invariant_to_positive_scaling_of_x",
    "test_linear_in_weight",
    "test_constant_rows_match_closed_form",
)


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


RULE_CHECKS = ("test_follows_the_rules", "test_runs_no_forbidden_call")


def _first_check(problem) -> str:
    return f"test_matches_reference_on_fixed_cases[{case_id(problem.cases[0])}]"


def _save(problem, tests: dict[str, Timing], wall: float = 9.0) -> None:
    """A calibration of rms_norm's solution with the given times, current for this checkout."""
    cal = Calibration("solution:triton", "2026-11-30 12:00", wall, tests)
    calibration.save(problem, ROOT, cal)


def test_an_infinite_loop_is_stopped_at_its_checks_budget_and_named():
    p = get_problem("rms_norm")
    first = _first_check(p)
    # the first check gets the floor (3 s); every check not listed gets the largest, 64 s
    _save(p, {first: Timing(0.01, 0.1), "test_linear_in_weight": Timing(1.0, 1.0)})
    budgets = plan(p, INFINITE, policy=Policy(floor_s=3.0))
    began: list[float] = []  # when each check started, as the parent saw it

    def on_event(record: dict) -> None:
        if record["event"] == "start":
            began.append(time.monotonic())

    r = run_check(p, INFINITE, budgets=budgets, on_event=on_event)
    stopped = time.monotonic() - began[-1]
    # two checks started: the rules' source check (it never calls the attempt), then the loop
    assert r.verdict == "timeout" and len(began) == 2, r.message
    assert 3.0 <= stopped < 8.0, f"the 3 s budget stopped the check after {stopped:.1f} s"
    assert re.match(
        rf"{re.escape(first)} ran [3-7] s; the solution:triton takes 0.11 s here", r.message
    )
    assert "(budget 3 s): look for an infinite loop, or pass --timeout 600" in r.message
    assert r.seconds < 120  # harness start-up included; a busy 2-core machine takes ~20 s


@pytest.mark.parametrize(("call_s", "verdict"), [(0.1, "passed"), (0.002, "timeout")])
def test_a_slow_but_honest_attempt_passes_within_the_factor_and_not_beyond(call_s, verdict):
    """The attempt sleeps 50 ms a call: 0.5-2 s a check (10 examples, up to 3 calls each).
    Timed as if the solution took call_s a check: 60 x 0.1 = 6 s budgets let it pass; the
    0.2 s floor stops it whatever the machine's speed (the parent looks twice a second, so a
    check of 0.5 s could slip between two looks; the 1.5 s ones cannot)."""
    p = get_problem("rms_norm")
    first = _first_check(p)
    tests = {name: Timing(call_s, 0.01) for name in RANDOM_CHECKS}
    _save(p, {**tests, first: Timing(0.1, 4.0)})  # 4 s: the worker's start-up
    budgets = plan(p, SLOW, policy=Policy(floor_s=0.2))
    watch = Stopwatch(resolve(p, SLOW).cli_arg)
    r = run_check(p, SLOW, budgets=budgets, on_event=watch)
    assert r.verdict == verdict, r.message
    if verdict == "timeout":
        assert r.message.startswith(RANDOM_CHECKS), r.message
        assert "the solution:triton takes 0.012 s here (budget 0.2 s)" in r.message
        return
    assert r.seconds > budgets.limit("test_linear_in_weight"), "the clock restarts every check"
    timed = calibration.from_run(r, watch).tests  # what a calibration from this run would hold
    assert set(RANDOM_CHECKS) | {first} <= set(timed) and len(timed) == sum(
        c.passed for c in r.checks
    )
    calls = {k: t for k, t in timed.items() if k not in RULE_CHECKS}  # these never call it
    assert all(t.call >= 0.05 for t in calls.values()), timed  # every call sleeps 50 ms
    assert timed[first].overhead > 0.5, timed[first]  # the worker starts in the first check


def test_the_whole_run_has_a_budget_derived_from_the_calibration_under_the_cap():
    p = get_problem("rms_norm")
    _save(p, {_first_check(p): Timing(0.01, 0.01)}, wall=1.0)
    budgets = plan(p, INFINITE, policy=Policy(floor_s=100.0, overall_floor_s=4.0))
    assert budgets.timeout == pytest.approx(60 * 0.01 + 4 * 0.99)  # (1 s - 0.01 s) not in calls
    r = run_check(p, INFINITE, budgets=budgets)
    assert r.verdict == "timeout" and r.seconds < budgets.timeout + 5, r.message
    assert r.message.startswith(f"did not finish within {budgets.timeout:g} s"), r.message
    assert "the solution:triton's whole check takes 1 s here (budget 5 s)" in r.message


def test_an_uncalibrated_problem_gets_a_quarter_of_its_timeout_a_check():
    b = plan(get_problem("rms_norm"), "reference")
    assert (b.limit("anything"), b.timeout, b.calibration) == (150, 600, None)
    assert b.label == "budgets: not calibrated here, 150 s a check"
    assert b.over("p/test_rms_norm.py::test_x[reference-n=1]", 151.0) == (
        "test_x[n=1] ran 151 s; not calibrated here (budget 150 s; `dojo calibrate rms_norm` "
        "measures budgets here): look for an infinite loop, or pass --timeout 600"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            '{"rms_norm": {"stamp": 3, "calibration": {}}}',
            "the calibration cache is unreadable here",
        ),
        ('{"rms_norm": {"stamp": {}}}', "the calibration cache is unreadable here"),
        ("[1, 2]", "not calibrated here"),
        ("{not json", "not calibrated here"),
    ],
)
def test_a_damaged_calibration_cache_means_uncalibrated_not_a_crash(tmp_path, text, why):
    (tmp_path / "xdg" / "kernel-dojo").mkdir(parents=True)
    (tmp_path / "xdg" / "kernel-dojo" / "calibration.json").write_text(text)
    assert calibration.load(get_problem("rms_norm"), ROOT) == (None, why)
    assert plan(get_problem("rms_norm"), "reference").limit("test_x") == 150


timings = st.builds(Timing, st.floats(0, 1e3), st.floats(0, 1e3))


@given(
    tests=st.dictionaries(st.text("abc_[]=-", min_size=1), timings, min_size=1, max_size=8),
    cap=st.floats(1, 3600),
    floor=st.floats(0.1, 100),
    slow=st.floats(1, 200),
)
def test_budgets_follow_the_policy_and_never_exceed_the_cap(tests, cap, floor, slow):
    policy = Policy(floor_s=floor, slow=slow)
    wall = sum(t.wall for t in tests.values()) + 1.0
    cal = Calibration("solution", "now", wall, tests)
    b = from_calibration("p", "solution", cap, cal, "", policy)
    for tid, t in tests.items():
        assert b.limit(tid) == min(cap, max(floor, slow * t.call + policy.load * t.overhead))
        assert b.limit(tid) >= min(cap, slow * t.call, floor)
    assert b.limit("a check not timed") == max(b.limits.values()) <= cap
    assert min(cap, policy.overall_floor_s) <= b.timeout <= cap


def test_the_stopwatch_times_each_passing_check_from_its_start_to_the_next(monkeypatch):
    clock = iter([10.0, 13.0, 13.5, 20.0, 21.0, 21.5, 22.0, 23.0])
    monkeypatch.setattr(calibration.time, "monotonic", lambda: next(clock))
    watch = Stopwatch("solution:triton")
    ids = [f"p/test_p.py::test_a[solution:triton-n={n}]" for n in (1, 2, 3)]
    for nodeid, status, call in [
        (ids[0], "passed", 2.5),
        (ids[1], "failed", 1),
        (ids[2], "passed", 0.4),
    ]:
        watch({"event": "start", "nodeid": nodeid})
        result = {"event": "result", "nodeid": nodeid, "phase": "call", "status": status}
        watch({**result, "message": "", "seconds": call})
    watch({"event": "start", "nodeid": "p/test_p.py::test_b[solution:triton]"})  # 22: skipped
    watch({"event": "finish", "exitstatus": 1})  # 23
    # test_a[n=1]: 3.5 s from its start to the next; its call's 2.1 s beyond the family's
    # 0.4 s is the first call's warm-up, moved to the overhead. Failed and skipped: not timed.
    timed = {k: (round(t.call, 6), round(t.overhead, 6)) for k, t in watch.timings().items()}
    assert timed == {"test_a[n=1]": (0.4, 3.1), "test_a[n=3]": (0.4, 0.6)}


def _copy_problem(root: Path) -> Path:
    """rms_norm's files in a checkout of their own, to change them."""
    for rel in ("problems/rms_norm", "reference/rms_norm.py", "solutions/rms_norm"):
        copy = shutil.copytree if (ROOT / rel).is_dir() else shutil.copy
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        copy(ROOT / rel, root / rel)
    shutil.copytree(ROOT / "grader" / "harness", root / "grader" / "harness")
    return root


@pytest.mark.parametrize(
    ("changed", "stale"),
    [
        ("problems/rms_norm/test_rms_norm.py", True),
        ("problems/rms_norm/problem.toml", True),
        ("reference/rms_norm.py", True),
        ("solutions/rms_norm/triton.py", True),
        ("grader/harness/plugin.py", True),
        ("problems/rms_norm/attempt.py", False),  # the attempt is what is being checked
        ("solutions/rms_norm/wrong_eps_outside_sqrt.py", False),
    ],
)
def test_a_calibration_goes_stale_when_a_file_it_timed_changes(tmp_path, changed, stale):
    root = _copy_problem(tmp_path / "checkout")
    p = get_problem("rms_norm", root)
    calibration.save(p, root, Calibration("solution:triton", "now", 1.0, {"t": Timing(1, 0)}))
    assert calibration.load(p, root)[0] is not None
    with (root / changed).open("a") as f:
        f.write("\n# an edit\n")
    cal, why = calibration.load(p, root)
    assert (cal is None) == stale, why
    assert why == (
        "calibration is stale (the problem's tests, reference or solution changed since)"
        if stale
        else ""
    )


@pytest.mark.parametrize(
    ("part", "why"), [("machine", "other hardware"), ("grader_version", "another grader")]
)
def test_a_calibration_goes_stale_on_another_machine_or_grader(monkeypatch, part, why):
    p = get_problem("rms_norm")
    _save(p, {"t": Timing(1, 0)})
    monkeypatch.setattr(calibration, part, lambda: "something else")
    cal, reason = calibration.load(p, ROOT)
    assert cal is None and why in reason
    assert plan(p, "reference").label.startswith(f"budgets: {reason}")


def test_dojo_calibrate_saves_what_it_timed_and_check_budgets_follow(monkeypatch):
    p = get_problem("rms_norm")
    cal = Calibration("solution:triton", "now", 9.0, {_first_check(p): Timing(0.5, 2.0)})
    monkeypatch.setattr(calibration, "calibrate", lambda problem, root, on_event=None: cal)
    result = CliRunner().invoke(app, ["calibrate", "rms_norm"])
    assert result.exit_code == 0, result.output
    # 60 x 0.5 + 4 x 2 = 38 s; the run: 60 x 0.5 + 4 x (9 - 0.5) = 64 s, raised to its 120 s floor
    line = "rms_norm · solution:triton · 9 s for 1 check · budgets 38 s a check, 120 s the run"
    assert result.stdout.strip() == line
    b = plan(p, "attempt")
    assert b.calibration == cal and b.label == "budgets: 60x the solution:triton's times here"


def test_dojo_calibrate_wants_one_slug_or_all():
    result = CliRunner().invoke(app, ["calibrate"])
    assert result.exit_code == 2 and "give one problem slug or --all" in result.stderr
