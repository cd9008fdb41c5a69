"""Where a check runs: the device, Triton interpreter mode, and what the interpreter cannot be
trusted with (those checks are skipped here as GPU-only, never failed or passed)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from grader.impls import ImplRef
from grader.spec import Problem

NEEDS_GPU = "needs GPU"  # the skip-reason prefix the grader reports as needs_gpu


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def enable_interpreter_if_no_gpu() -> None:
    """Triton reads TRITON_INTERPRET at import: call this before anything imports triton."""
    if not torch.cuda.is_available() and "triton" not in __import__("sys").modules:
        os.environ["TRITON_INTERPRET"] = "1"


def cuda_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def has_nvcc() -> bool:
    return shutil.which("nvcc") is not None


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
        need = self.problem.needs.get(needs, "cpu")
        have = cuda_count()
        if need == "gpu" and have == 0:
            pytest.skip(f"{NEEDS_GPU}: {self.problem.slug} {needs} runs on a CUDA GPU")
        if need == "multi_gpu" and have < 2:
            pytest.skip(
                f"{NEEDS_GPU}: {self.problem.slug} {needs} needs 2+ CUDA GPUs, found {have}"
            )

    def trusted(self, case: dict[str, Any]) -> bool:
        """False when the case uses a dtype the Triton interpreter computes wrongly."""
        return not (self.interpreted and case.get("dtype") in self.problem.untrusted_in_interpreter)

    def require_trusted(self, case: dict[str, Any]) -> None:
        if not self.trusted(case):
            note = self.problem.interpreter_note or "the Triton interpreter mis-computes it"
            pytest.skip(f"{NEEDS_GPU}: {case.get('dtype')} is checked on GPU only ({note})")

    def gen(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)
