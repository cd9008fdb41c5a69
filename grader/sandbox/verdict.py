"""Verdicts, worst first, each with its exit code, its style and the next step it suggests;
and the result of one check run, per check and as a whole."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    exit_code: int
    style: str
    mark: str  # in a check's row: ✓ passed, ✗ a failure, · did not run here, ○ not started
    next_step: str  # shown after the result; {slug} and {impl} are filled in


VERDICTS = {
    v.name: v
    for v in (
        Verdict(
            "crashed",
            1,
            "bold red",
            "✗",
            "the process died: look for out-of-bounds indexing or a missing bounds mask",
        ),
        Verdict(
            "timeout", 1, "bold red", "✗", "something never finished: check loop bounds and exits"
        ),
        Verdict(
            "error",
            1,
            "bold red",
            "✗",
            "fix the error above, then check again",
        ),
        Verdict(
            "failed",
            1,
            "bold red",
            "✗",
            "read the first failure above; `dojo hint {slug}` reveals the next hint",
        ),
        Verdict(
            "not_attempted",
            1,
            "yellow",
            "○",
            "edit problems/{slug}/attempt.py (README.md has the statement)",
        ),
        Verdict("passed", 0, "bold green", "✓", ""),
        Verdict(
            "needs_gpu",
            3,
            "cyan",
            "·",
            "run this on a CUDA machine for a verdict (`dojo doctor` says what runs here)",
        ),
        Verdict("skipped", 0, "dim", "·", ""),
    )
}
WORST_FIRST = tuple(VERDICTS)


def rank(status: str) -> int:
    """0 for the worst verdict; statuses the grader does not know rank worst of all."""
    return WORST_FIRST.index(status) if status in VERDICTS else -1


@dataclass(slots=True)
class Check:
    name: str
    status: str
    cases: int = 0
    passed: int = 0
    needs_gpu: int = 0
    static: bool = False
    message: str = ""
    example: str | None = None


@dataclass(slots=True)
class CheckResult:
    problem: str
    impl: str
    verdict: str
    message: str
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # facts a check reported (bank conflicts, ...)

    def to_json(self) -> dict:
        return {
            "schema": 1,
            "problem": self.problem,
            "impl": self.impl,
            "verdict": self.verdict,
            "checks": [asdict(c) for c in self.checks],
            "notes": self.notes,
            "message": self.message,
            "seconds": round(self.seconds, 2),
        }
