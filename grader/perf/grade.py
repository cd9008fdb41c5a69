"""Parent side of bench and grade: run the bench worker in a sandbox, combine with the check
verdict into a score (0 unless correct; 60 + tier points), and the suite's readiness."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.harness.rules_ast import rule_message, static_violations
from grader.perf.score import BadRecord, score
from grader.problem.impls import resolve
from grader.problem.rules import RULED, allowed_imports
from grader.problem.spec import Perf, Problem
from grader.problem.stubs import stub_reason
from grader.runtime.device import best_device
from grader.runtime.errors import ImplLoadError
from grader.runtime.logs import tail_line
from grader.sandbox.budgets import plan
from grader.sandbox.check import run_check
from grader.sandbox.events import EventStream
from grader.sandbox.guard import guarded
from grader.sandbox.process import SANDBOX_DIR, run_process
from grader.sandbox.verdict import CheckResult
from grader.store import data_dir

CORRECT_POINTS = 60
TIER_POINTS = {None: 0, "bronze": 20, "silver": 30, "gold": 40}


def run_bench(
    problem: Problem,
    impl: str,
    *,
    timeout: float | None = None,
    root: Path | None = None,
    peers: bool = False,
) -> dict[str, Any]:
    """`dojo bench`: perf JSON for one implementation (and its declared peers, each timed and
    checked the same way). The driver process times it in a worker and sends raw samples,
    signed, over a pipe; the fractions and tiers are computed here."""
    root = root or problem.path.parent.parent
    try:
        ref = resolve(problem, impl, root)
        broken = _rules_broken(problem, ref)
    except ImplLoadError as e:
        return {"status": "error", "message": str(e)}
    if broken:  # its time would be torch's, say, or whatever its own clock said
        return {"problem": problem.slug, "impl": ref.spec, **_status("failed", broken)}
    # every peer is one more implementation timed in the run: each gets the problem's budget
    timeout = timeout or problem.timeouts["bench"] * (1 + (len(problem.peers) if peers else 0))
    stream = EventStream()
    cmd = [sys.executable, "-m", "grader.perf.bench", problem.slug, ref.cli_arg]
    cmd += ["--peers"] if peers else []
    with (
        tempfile.TemporaryDirectory(prefix="dojo-bench-") as tmp,
        guarded(root, data_dir()) as guard,
    ):
        finished = run_process(
            [*cmd, "--dojo-report", stream.argument],
            timeout,
            root,
            env={SANDBOX_DIR: tmp},
            pass_fds=stream.child_fds,
            on_start=stream.start,
        )
        stream.join()
    head = {"problem": problem.slug, "impl": ref.spec}
    return {**head, **_result(problem, stream, finished, guard, timeout, peers)}


def _rules_broken(problem: Problem, ref) -> str:
    """The source check of `dojo check`'s first step, for what the rules apply to: the first
    violation as one line ('' when none), so a rule-breaker is never timed."""
    if ref.kind not in RULED or ref.path is None:
        return ""
    found = static_violations(problem, ref.path, allowed_imports(ref.kind, problem.slug))
    more = f" (+{len(found) - 1} more; dojo check shows them)" if len(found) > 1 else ""
    return f"not benchmarked: {rule_message(problem, found[0], 0)}{more}" if found else ""


def _result(
    problem: Problem, stream, finished, guard, timeout: float, peers: bool = False
) -> dict[str, Any]:
    """The scored result, or why there is none, as {"status", "message"}."""
    records = [e["result"] for e in stream.events if e["event"] == "bench"]
    if guard.tampered:
        why = f"the run changed the grader's files ({guard.tampered[0]}): the result is void"
    elif stream.rejected:
        why = f"the bench report was tampered with: {stream.rejected}"
    elif records:
        try:
            return score(problem, choose_perf(problem), records[-1], peers)
        except BadRecord as e:
            why = f"the bench report is malformed: {e}"
        except AssertionError as e:
            return {"status": "failed", "message": str(e)}
    elif finished.returncode is None:
        return _status("timeout", f"the benchmark did not finish within {timeout:g} s")
    elif finished.returncode < 0:
        return _status("crashed", f"the benchmark process died (signal {-finished.returncode})")
    else:
        why = f"the benchmark process failed: {tail_line(finished.log)}"
    return _status("error", why)


def _status(status: str, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


@dataclass(slots=True)
class Grade:
    check: CheckResult
    perf: dict[str, Any] = field(default_factory=dict)

    @property
    def tier(self) -> str | None:
        return self.perf.get("tier") if self.perf.get("status") == "measured" else None

    @property
    def score(self) -> int | None:
        """0 unless correct; None when correctness could not be decided on this machine."""
        if self.check.verdict == "needs_gpu":
            return None
        if self.check.verdict != "passed":
            return 0
        return CORRECT_POINTS + TIER_POINTS[self.tier]

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.check.problem,
            "impl": self.check.impl,
            "verdict": self.check.verdict,
            "score": self.score,
            "tier": self.tier,
            "message": self.check.message,
            "perf": self.perf,
        }


def choose_perf(problem: Problem) -> Perf | None:
    """The perf section this machine can measure (multi_gpu > gpu > cpu), if any."""
    device = best_device(problem.perf)
    return problem.perf[device] if device else None


def untouched_stub(problem: Problem, impl: str) -> CheckResult | None:
    """The not_attempted result of an attempt that is still its stub, found without starting
    pytest (grader/problem/stubs.py has the rule); None when the checks must run."""
    why = stub_reason(problem) if impl == "attempt" else None
    return CheckResult(problem.slug, impl, "not_attempted", why) if why else None


def grade(
    problem: Problem, impl: str, *, fail_fast: bool = False, root: Path | None = None
) -> Grade:
    budgets = plan(problem, impl, root)  # per-check limits from this machine's calibration
    check = untouched_stub(problem, impl) or run_check(
        problem, impl, fail_fast=fail_fast, root=root, budgets=budgets
    )
    if check.verdict != "passed":
        return Grade(check, {"status": "skipped", "message": f"not benchmarked: {check.verdict}"})
    return Grade(check, run_bench(problem, impl, root=root))


def readiness(grades: list[Grade]) -> dict[str, Any]:
    """KernelBench-style fast_p over all problems: the share correct and at or above a tier."""
    n = len(grades) or 1
    correct = sum(g.check.verdict == "passed" for g in grades)
    at = {
        t: sum(g.tier is not None and TIER_POINTS[g.tier] >= TIER_POINTS[t] for g in grades)
        for t in ("bronze", "silver", "gold")
    }
    return {
        "problems": len(grades),
        "correct": correct / n,
        **{f"at_{t}": k / n for t, k in at.items()},
    }
