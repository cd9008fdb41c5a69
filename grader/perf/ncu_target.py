"""One profiled call of an implementation on one benchmark case (the first unless a case index is
given), for `dojo bench --ncu` and scripts/gpu_ncu_evidence.sh (run under `ncu
--profile-from-start off`; only the region between start and stop is profiled)."""

from __future__ import annotations

import importlib
import sys

import torch

from grader.harness.hooks import hooks_for
from grader.perf.grade import choose_perf
from grader.problem.impls import load, resolve
from grader.problem.registry import get_problem


def main(slug: str, spec: str, case: int = 0) -> None:
    problem = get_problem(slug)
    module = load(problem, resolve(problem, spec))
    perf = choose_perf(problem)
    ref = importlib.import_module(f"reference.{slug}")
    gen = torch.Generator(device="cuda").manual_seed(0)
    inputs = ref.make_inputs(perf.cases[case], gen)
    target = hooks_for(problem).bench_target(module, perf)
    target(**inputs)  # compile and warm up outside the profiled region
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    target(**inputs)
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
