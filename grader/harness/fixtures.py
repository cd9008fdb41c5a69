"""The `runtime` fixture: where a check runs (the device, Triton interpreter mode) and what the
interpreter cannot be trusted with (skipped as GPU-only there, never failed or passed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch

from grader.problem.impls import ImplRef
from grader.problem.spec import Problem
from grader.runtime.device import GPUS_NEEDED, cuda_count, interpreting

NEEDS_GPU = "needs GPU"  # the skip-reason prefix the grader reports as needs_gpu


@dataclass(frozen=True, slots=True)
class Runtime:
    """Handed to tests as the `runtime` fixture."""

    problem: Problem
    impl: ImplRef
    device: str
    interpreted: bool

    @classmethod
    def for_check(cls, problem: Problem, impl: ImplRef) -> Runtime:
        gpu = cuda_count() > 0
        return cls(problem, impl, "cuda" if gpu else "cpu", impl.runs_triton and interpreting())

    def require(self, needs: str = "correctness") -> None:
        """Skip (as needs_gpu) when this check needs more GPUs than this machine has."""
        need, have = GPUS_NEEDED[self.problem.needs.get(needs, "cpu")], cuda_count()
        if have < need:
            what = "a CUDA GPU" if need == 1 else f"{need}+ CUDA GPUs, found {have}"
            pytest.skip(f"{NEEDS_GPU}: {self.problem.slug} {needs} needs {what}")

    def trusted(self, case: dict[str, Any]) -> bool:
        """False when the case uses a dtype the Triton interpreter computes wrongly."""
        return not (self.interpreted and case.get("dtype") in self.problem.untrusted_in_interpreter)

    def require_trusted(self, case: dict[str, Any]) -> None:
        if not self.trusted(case):
            note = self.problem.interpreter_note or "the Triton interpreter mis-computes it"
            pytest.skip(f"{NEEDS_GPU}: {case.get('dtype')} is checked on GPU only ({note})")

    def gen(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)
