"""Per-check time budgets for `dojo check`: a multiple of what the shipped solution takes on this
machine (grader/sandbox/calibration.py measures it), or a fixed share of problem.toml's check
timeout where it was never measured here; the problem.toml timeout is always the upper cap."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.problem.impls import resolve
from grader.problem.spec import Problem
from grader.runtime.errors import ImplLoadError
from grader.sandbox import calibration
from grader.sandbox.calibration import Calibration, test_id

THOROUGH = 10  # --thorough: hypothesis's dev profile draws 100 examples where ci draws 10


@dataclass(frozen=True, slots=True)
class Policy:
    """How a budget follows from a calibrated time: max(floor_s, slow * call + load * overhead).

    slow = 60: an honest but slow attempt must pass. Measured on a 2-core CPU (Triton
    interpreter): a correct rms_norm whose kernel loops over the row 16 columns at a time, a
    plausible first try, takes 27x the solution's time on its heaviest checks (29 s against
    1.06 s); twice that covers a machine busy with a second check at once (pytest -n 2).
    load = 4: the rest of a check's time (worker start-up, imports, fixtures) does not grow with
    a slow attempt, only with a busy machine or a cold disk cache.
    floor_s = 30: no check gets less, whatever it took the solution, so timing noise on a
    0.01 s check never kills anything; an infinite loop is stopped in half a minute, not ten.
    overall_floor_s = 120: the least a whole run gets, as slow * calls + load * the rest.
    static_share = 1/4: where nothing was measured, a check gets a quarter of the problem's
    whole check timeout; the longest check of any shipped solution took at most 15% of its
    problem's timeout on a busy 2-core CPU (ep_all_to_all, 44 s of 300; the others under 4%)."""

    floor_s: float = 30.0
    slow: float = 60.0
    load: float = 4.0
    overall_floor_s: float = 120.0
    static_share: float = 0.25

    def __post_init__(self) -> None:
        if min(self.floor_s, self.slow, self.load, self.overall_floor_s, self.static_share) <= 0:
            raise ValueError(f"budget policy values must be positive: {self}")

    def per_check(self, t: calibration.Timing) -> float:
        return max(self.floor_s, self.slow * t.call + self.load * t.overhead)

    def overall(self, cal: Calibration) -> float:
        return max(self.overall_floor_s, self.slow * cal.calls + self.load * (cal.wall - cal.calls))


@dataclass(frozen=True, slots=True)
class Budgets:
    """The time limits of one check run: per test id, for the tests not timed, for the run."""

    slug: str
    spec: str  # the implementation's name inside pytest node ids
    cap: float  # problem.toml's check timeout
    default: float  # a check the calibration did not time
    timeout: float  # the whole run
    source: str  # where the budgets come from, for the live line and the messages
    calibration: Calibration | None = None
    limits: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (0 < self.default <= self.cap and 0 < self.timeout <= self.cap):
            raise ValueError(f"budgets must be positive and within the cap: {self}")

    def limit(self, nodeid: str) -> float:
        return self.limits.get(test_id(nodeid, self.spec), self.default)

    def over(self, nodeid: str, spent: float) -> str:
        """The timeout verdict's line for a check that ran past its budget."""
        tid = test_id(nodeid, self.spec)
        timed = self.calibration.tests.get(tid) if self.calibration else None
        budget = f"budget {_secs(self.limit(nodeid))}"
        if timed is not None:
            why = f"the {self.calibration.impl} takes {_secs(timed.wall)} here ({budget})"
        elif self.calibration is not None:
            why = f"a check the {self.calibration.impl} did not run here ({budget})"
        else:
            why = f"{self.source} ({budget}; `dojo calibrate {self.slug}` measures budgets here)"
        return f"{tid} ran {spent:.0f} s; {why}: look for an infinite loop, or pass " + (
            f"--timeout {self.cap:g}"
        )

    def overall_note(self) -> str:
        """Appended to the verdict when the whole run, not one check, went past its time."""
        more = self.cap if self.timeout < self.cap else 2 * self.cap
        if self.calibration is None:
            return f"; pass --timeout {more:g} to allow more"
        return (
            f"; the {self.calibration.impl}'s whole check takes {_secs(self.calibration.wall)} "
            f"here (budget {self.timeout:.0f} s): look for a slow loop, or pass --timeout {more:g}"
        )

    @property
    def label(self) -> str:
        """For the live line: which budgets apply."""
        if self.calibration is None:
            return f"budgets: {self.source}, {self.default:.0f} s a check"
        return f"budgets: {self.source}"


def plan(
    problem: Problem, impl: str, root: Path | None = None, policy: Policy = Policy()
) -> Budgets | None:
    """The budgets for checking `impl`, from this machine's calibration where there is a
    current one; None where `impl` does not resolve (run_check reports that)."""
    root = root or problem.path.parent.parent
    try:
        spec = resolve(problem, impl, root).cli_arg
    except ImplLoadError:
        return None
    return budgets_for(problem, spec, root, policy)


def budgets_for(problem: Problem, spec: str, root: Path, policy: Policy = Policy()) -> Budgets:
    """The budgets of a run whose node ids name the implementation `spec`."""
    cal, why = calibration.load(problem, root)
    return from_calibration(problem.slug, spec, problem.timeouts["check"], cal, why, policy)


def from_calibration(
    slug: str, spec: str, cap: float, cal: Calibration | None, why: str, policy: Policy = Policy()
) -> Budgets:
    """Budgets from a calibration; from the cap alone where there is none (`why` says why)."""
    if cal is None:
        default = min(cap, max(policy.floor_s, policy.static_share * cap))
        return Budgets(slug, spec, cap, default, cap, why)
    limits = {tid: min(cap, policy.per_check(t)) for tid, t in cal.tests.items()}
    timeout = min(cap, policy.overall(cal))
    source = f"{policy.slow:g}x the {cal.impl}'s times here"
    return Budgets(slug, spec, cap, max(limits.values()), timeout, source, cal, limits)


def _secs(seconds: float) -> str:
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
