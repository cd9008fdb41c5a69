"""How long each check of a problem takes on this machine for the shipped solution (the reference
where no solution runs here): measured by `dojo calibrate` or a passing `dojo check --impl
solution`, cached in the data dir under a stamp of the machine, the problem's files and the
grader, so that a change to any of them makes the cached times stale."""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from grader import store
from grader.problem.impls import resolve
from grader.problem.spec import Problem
from grader.runtime.device import cuda_count
from grader.runtime.errors import ImplLoadError
from grader.sandbox.check import run_check
from grader.sandbox.verdict import CheckResult

CACHE = "calibration.json"
USABLE = ("passed", "needs_gpu")  # needs_gpu: what ran here is what an attempt runs here


@dataclass(frozen=True, slots=True)
class Timing:
    call: float  # the test's call phase: what a slower implementation multiplies
    overhead: float  # the rest of its wall time: fixtures, worker start-up, teardown

    def __post_init__(self) -> None:
        if not (self.call >= 0 and self.overhead >= 0):
            raise ValueError(f"a timing must be non-negative, got {self.call}, {self.overhead}")

    @property
    def wall(self) -> float:
        return self.call + self.overhead


@dataclass(frozen=True, slots=True)
class Calibration:
    impl: str  # what was timed: solution:triton, reference, ...
    when: str
    wall: float  # the whole check run, harness start-up included
    tests: dict[str, Timing]  # by test id without the implementation: test_x[rows=1-H=1]

    def __post_init__(self) -> None:
        if not (self.wall >= 0 and self.tests):
            raise ValueError("a calibration needs a run time and at least one timed test")

    @property
    def calls(self) -> float:
        return sum(t.call for t in self.tests.values())

    def to_json(self) -> dict[str, Any]:
        tests = {k: [round(t.call, 4), round(t.overhead, 4)] for k, t in self.tests.items()}
        return {"impl": self.impl, "when": self.when, "wall": round(self.wall, 3), "tests": tests}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        tests = {k: Timing(float(c), float(o)) for k, (c, o) in data["tests"].items()}
        return cls(str(data["impl"]), str(data["when"]), float(data["wall"]), tests)


def test_id(nodeid: str, spec: str) -> str:
    """test_x[solution:triton-rows=1] -> test_x[rows=1]: the same id for every implementation."""
    short = nodeid.rsplit("::", 1)[-1]
    return short.replace(f"[{spec}-", "[").replace(f"[{spec}]", "")


class Stopwatch:
    """An on_event callback timing each test: its wall time runs from its start record to the
    next test's (or the run's finish record); its call time is what the harness reports."""

    def __init__(self, spec: str):
        self.spec = spec
        self._starts: list[tuple[str, float]] = []
        self._calls: dict[str, float] = {}

    def __call__(self, record: dict) -> None:
        now = time.monotonic()
        if record["event"] in ("start", "finish"):
            self._starts.append((record.get("nodeid", ""), now))
        elif record["event"] == "result" and record["status"] == "passed":
            self._calls[test_id(record["nodeid"], self.spec)] = float(record.get("seconds", 0))

    def timings(self) -> dict[str, Timing]:
        """Tests that passed, each with its call time and the rest of its wall time."""
        out = {}
        for (nodeid, began), (_, ended) in zip(self._starts, self._starts[1:]):
            tid = test_id(nodeid, self.spec)
            if tid in self._calls:
                call = min(self._calls[tid], ended - began)
                out[tid] = Timing(call, ended - began - call)
        if self._starts and out:
            _warm_up_is_overhead(out, test_id(self._starts[0][0], self.spec))
        return out


def _warm_up_is_overhead(timings: dict[str, Timing], first: str) -> None:
    """The run's first call also warms up (lazy imports, the first Triton launch): what it takes
    beyond the median call of its own parametrised family is moved to its overhead, which a
    budget does not multiply by the slowness factor."""
    family = [t.call for k, t in timings.items() if k != first and _name(k) == _name(first)]
    if first not in timings or not family:
        return
    t = timings[first]
    extra = max(0.0, t.call - statistics.median(family))
    timings[first] = Timing(t.call - extra, t.overhead + extra)


def _name(tid: str) -> str:
    return tid.split("[", 1)[0]


def chain(*callbacks: Callable[[dict], None] | None) -> Callable[[dict], None] | None:
    """One on_event callback calling each given one in turn; None when none is given."""
    given = [c for c in callbacks if c is not None]
    if not given:
        return None

    def each(record: dict) -> None:
        for c in given:
            c(record)

    return each


def calibrate(
    problem: Problem, root: Path, on_event: Callable[[dict], None] | None = None
) -> Calibration | str:
    """Time the shipped solution's checks (the reference's where no solution passes here);
    the calibration, or one line saying why there is none."""
    tried = []
    for impl in ("solution", "reference"):
        try:
            spec = resolve(problem, impl, root).cli_arg
        except ImplLoadError:
            continue
        watch = Stopwatch(spec)
        result = run_check(problem, impl, root=root, on_event=chain(watch, on_event))
        calibration = from_run(result, watch)
        if calibration is not None:
            return calibration
        tried.append(f"{result.impl} {result.verdict}: {result.message}")
    return "nothing shipped passes here to time (" + "; ".join(tried) + ")"


def from_run(result: CheckResult, watch: Stopwatch) -> Calibration | None:
    """The calibration a finished check run gives, if it passed (or ran all it could here)."""
    timings = watch.timings()
    if result.verdict not in USABLE or not timings:
        return None
    return Calibration(result.impl, time.strftime("%Y-%m-%d %H:%M"), result.seconds, timings)


def stamp(problem: Problem, root: Path) -> dict[str, str]:
    """What the cached times depend on; any part changing makes them stale."""
    return {"machine": machine(), "files": files_hash(problem, root), "grader": grader_version()}


def machine() -> str:
    gpus = sorted(_gpu_names()) or [f"{cuda_count()} CUDA GPUs" if cuda_count() else "no GPU"]
    return f"{os.cpu_count()} x {_cpu_model()}, {', '.join(gpus)}, torch {_version('torch')}"


def files_hash(problem: Problem, root: Path) -> str:
    """sha256 of the problem's files, its reference, its shipped solutions and the harness."""
    solutions = root / "solutions" / problem.slug
    paths = [
        *sorted(problem.path.glob("*.py")),
        problem.toml_path,
        root / "reference" / f"{problem.slug}.py",
        *sorted(p for p in solutions.glob("*.py") if not p.name.startswith("wrong_")),
        *sorted((root / "grader" / "harness").glob("*.py")),
    ]
    h = hashlib.sha256()
    for p in paths:
        if p.is_file() and p.name != "attempt.py":
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def grader_version() -> str:
    return _version("kernel-dojo")


def load(problem: Problem, root: Path) -> tuple[Calibration | None, str]:
    """The cached calibration, or None and why there is none (never measured, or stale)."""
    cache = store.load_json(store.data_dir() / CACHE, {})
    entry = cache.get(problem.slug) if isinstance(cache, dict) else None
    if entry is None:
        return None, "not calibrated here"
    try:
        now = stamp(problem, root)
        changed = [k for k in ("files", "machine", "grader") if entry["stamp"][k] != now[k]]
        cal = Calibration.from_json(entry["calibration"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, "the calibration cache is unreadable here"
    return (None, f"calibration is stale ({_STALE[changed[0]]})") if changed else (cal, "")


_STALE = {
    "files": "the problem's tests, reference or solution changed since",
    "machine": "measured on other hardware or software",
    "grader": "measured by another grader version",
}


def save(problem: Problem, root: Path, calibration: Calibration) -> None:
    path = store.data_dir() / CACHE
    cache = store.load_json(path, {})
    cache[problem.slug] = {"stamp": stamp(problem, root), "calibration": calibration.to_json()}
    store.save_json(path, cache)


def _gpu_names() -> list[str]:
    """From the driver's /proc files: no CUDA context is created in the grader's process."""
    names = []
    for info in Path("/proc/driver/nvidia/gpus").glob("*/information"):
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    return names


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown CPU"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"
