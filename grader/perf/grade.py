"""Parent side of bench and grade: run the bench worker in a sandbox, combine with the check
verdict into a score (0 unless correct; 60 + tier points), and the suite's readiness."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.problem.impls import resolve
from grader.problem.spec import Problem
from grader.problem.stubs import stub_reason
from grader.runtime.errors import ImplLoadError
from grader.runtime.logs import tail_line
from grader.sandbox.check import run_check
from grader.sandbox.process import run_process
from grader.sandbox.verdict import CheckResult

CORRECT_POINTS = 60
TIER_POINTS = {None: 0, "bronze": 20, "silver": 30, "gold": 40}


def run_bench(
    problem: Problem, impl: str, *, timeout: float | None = None, root: Path | None = None
) -> dict[str, Any]:
    """`dojo bench`: perf JSON for one implementation, measured in a fresh process."""
    root = root or problem.path.parent.parent
    try:
        ref = resolve(problem, impl, root)
    except ImplLoadError as e:
        return {"status": "error", "message": str(e)}
    spec = ref.cli_arg
    timeout = timeout or problem.timeouts["bench"]
    with tempfile.TemporaryDirectory(prefix="dojo-bench-") as tmp:
        out = Path(tmp) / "bench.json"
        finished = run_process(
            [sys.executable, "-m", "grader.perf.bench", problem.slug, spec, str(out)], timeout, root
        )
        if out.exists():
            return {"problem": problem.slug, "impl": ref.spec, **json.loads(out.read_text())}
    if finished.returncode is None:
        status, msg = "timeout", f"the benchmark did not finish within {timeout:g} s"
    elif finished.returncode < 0:
        status, msg = "crashed", f"the benchmark process died (signal {-finished.returncode})"
    else:
        status, msg = "error", f"the benchmark process failed: {tail_line(finished.log)}"
    return {"problem": problem.slug, "impl": ref.spec, "status": status, "message": msg}


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


def untouched_stub(problem: Problem, impl: str) -> CheckResult | None:
    """The not_attempted result of an attempt that is still its stub, found without starting
    pytest (grader/problem/stubs.py has the rule); None when the checks must run."""
    why = stub_reason(problem) if impl == "attempt" else None
    return CheckResult(problem.slug, impl, "not_attempted", why) if why else None


def grade(
    problem: Problem, impl: str, *, fail_fast: bool = False, root: Path | None = None
) -> Grade:
    check = untouched_stub(problem, impl) or run_check(
        problem, impl, fail_fast=fail_fast, root=root
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
