"""problem.toml's schema as frozen dataclasses (grader/problem/load.py reads the file into them);
SpecError is the one-line error for a file that does not match it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.problem.rules import Rules


class SpecError(ValueError):
    """A problem.toml that does not match the schema; str() is the one line shown to the user."""


DIFFICULTIES = ("easy", "medium", "hard")
LANGUAGES = ("triton", "cuda", "torch", "python")
NEEDS = ("cpu", "gpu", "multi_gpu")
METRICS = ("bandwidth", "tflops", "speedup", "custom")
BASELINES = ("copy", "cublas", "reference", "nccl", "custom")
TIERS = ("bronze", "silver", "gold")


@dataclass(frozen=True, slots=True)
class Tolerance:
    rtol: float
    atol: float


@dataclass(frozen=True, slots=True)
class Perf:
    """One perf section ([perf.cpu] or [perf.gpu]): what is timed, against what, and the bars."""

    device: str
    metric: str
    baseline: str
    entry: str
    bars: dict[str, float]
    cases: tuple[dict[str, Any], ...]
    budget_s: float = 10.0
    solution: str | None = None  # the shipped backend `--impl solution` means on this device

    def tier(self, value: float) -> str | None:
        best = None
        for name in TIERS:
            if value >= self.bars[name]:
                best = name
        return best


@dataclass(frozen=True, slots=True)
class Peer:
    """[peers.<name>]: what a user would call instead of writing the kernel (the torch op,
    torch.compile of the reference, a library's kernel), a function of reference/peers/<slug>.py
    called like the bench entry; `dojo bench --peers` checks and times it beside yours."""

    name: str
    label: str  # as a learner knows it: "torch.compile(reference)"
    function: str
    requires: tuple[str, ...] = ()  # modules it imports; one missing: "not installed"
    devices: tuple[str, ...] = NEEDS  # perf sections it runs in; elsewhere `note` says why not
    note: str = ""

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").isalnum() or not self.function.isidentifier():
            raise ValueError(f"peer '{self.name}': names are letters, digits and _")
        if not set(self.devices) <= set(NEEDS):
            raise ValueError(f"peer '{self.name}': devices must be among {', '.join(NEEDS)}")


@dataclass(frozen=True, slots=True)
class StaticRule:
    """A rule checked on the attempt's PTX: required and forbidden instruction substrings."""

    name: str
    require: tuple[str, ...] = ()
    require_any: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    function: str | None = None  # a `__device__ float f(float)` to check alone; None = whole file


@dataclass(frozen=True, slots=True)
class Problem:
    slug: str
    path: Path
    title: str
    difficulty: str
    language: str
    track: str
    order: int
    tags: tuple[str, ...]
    entry: tuple[str, ...]
    signature: str
    hints: tuple[str, ...]
    questions: tuple[str, ...]
    mock_minutes: int
    needs: dict[str, str]
    timeouts: dict[str, float]
    limits: dict[str, int]
    cases: tuple[dict[str, Any], ...]
    ranges: dict[str, tuple[int, int]]
    choices: dict[str, tuple[Any, ...]]
    tolerance: dict[str, Tolerance]
    perf: dict[str, Perf]
    optional: tuple[str, ...] = ()
    static: tuple[StaticRule, ...] = ()
    untrusted_in_interpreter: tuple[str, ...] = ()
    interpreter_note: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    rules: Rules = Rules()

    @property
    def toml_path(self) -> Path:
        return self.path / "problem.toml"

    def tol(self, dtype: Any) -> Tolerance:
        name = str(dtype).removeprefix("torch.")
        if name not in self.tolerance:
            raise KeyError(f"{self.toml_path}: no [tolerance.{name}]")
        return self.tolerance[name]
