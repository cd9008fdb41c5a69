"""Per-problem hooks: what a problem may customise in checking and benchmarking, with the
defaults every other problem uses. A problem that needs more writes problems/<slug>/hooks.py
with a subclass of Hooks named in `HOOKS = MyHooks`; the grader calls methods, never probes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import torch

from grader.harness.compare import assert_matches
from grader.problem.impls import ImplRef, import_file
from grader.problem.registry import get_problem
from grader.problem.spec import Perf, Problem, SpecError, Tolerance
from grader.runtime.errors import ImplLoadError


class Hooks:
    """The defaults. Subclasses override what their problem needs and may add helpers that the
    problem's tests use through the `hooks` fixture."""

    def __init__(self, problem: Problem):
        self.problem = problem

    def relaxed(self, factor: float) -> Hooks:
        """These hooks over the problem's tolerances times `factor` (0 stays 0: an exact
        problem stays exact): how the bench tells a peer that rounds differently from one that
        is wrong."""
        wider = {
            k: Tolerance(t.rtol * factor, t.atol * factor)
            for k, t in self.problem.tolerance.items()
        }
        return type(self)(replace(self.problem, tolerance=wider))

    def compare(self, got: Any, expected: Any, inputs: dict[str, Any]) -> None:
        """Raise AssertionError with a mismatch report. Default: floating tensors within
        [tolerance.<dtype>], everything else exactly equal."""
        assert_matches(got, expected, self.problem.tol, name="output")

    def bench_target(self, module: Any, perf: Perf) -> Callable[..., Any]:
        """What to time for an implementation module, called with make_inputs' keywords."""
        return getattr(module, perf.entry)

    def bench_extra(self, module: Any, perf: Perf) -> dict[str, Any]:
        """Extra facts for the bench JSON; a `tier_cap` key (None or a tier) caps the tier."""
        return {}

    def baseline_gemm(self, case: dict[str, Any]) -> tuple[int, int, int, torch.dtype]:
        """(M, N, K, dtype) of the cuBLAS GEMM a `metric = "tflops"` case is measured against."""
        raise SpecError(f"{self.problem.slug}: metric 'tflops' needs Hooks.baseline_gemm")

    def bench_custom(self, ref: ImplRef, perf: Perf) -> dict[str, Any]:
        """For `metric = "custom"`: measure the implementation (`ref`, what --impl named: load
        it in the processes that run it) and its baseline in one run and
        return {"cases": [{"case", "median_ms", "fraction", "tier", ...}], "fraction", "tier"}."""
        raise SpecError(f"{self.problem.slug}: metric 'custom' needs Hooks.bench_custom")

    def notes(self, module: Any) -> list[str]:
        """Facts about an implementation that `dojo show` prints (none by default)."""
        return []


def hooks_for(problem: Problem) -> Hooks:
    return _load(problem.slug, problem.path)


@cache
def _load(slug: str, path: Path) -> Hooks:
    problem = get_problem(slug, path.parent.parent)
    file = path / "hooks.py"
    if not file.is_file():
        return Hooks(problem)
    try:
        module = import_file(file, f"dojo_hooks_{slug}")
    except ImplLoadError as e:
        raise SpecError(f"problems/{slug}/hooks.py: {e}") from None
    cls = getattr(module, "HOOKS", None)
    if not (isinstance(cls, type) and issubclass(cls, Hooks)):
        raise SpecError(f"problems/{slug}/hooks.py: HOOKS must name a subclass of Hooks")
    return cls(problem)
