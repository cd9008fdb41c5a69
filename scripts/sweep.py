"""Developer sweeps on a GPU: time the variants a solution exposes (kernel names or module
knobs) against the baseline measured in the same process, to pick the defaults shipped in
solutions/. Not part of grading. Usage: python scripts/sweep.py NAME [OUT.json]."""

from __future__ import annotations

import importlib
import itertools
import json
import sys

import torch

from grader.problem.registry import get_problem
from grader.runtime import timing

KNOBS = {  # problem -> (solution module, {knob: values}); each combination is timed
    "online_softmax": (
        "solutions.online_softmax.triton",
        {"SPLIT_BLOCK": [4096, 8192, 16384], "SPLIT_WARPS": [4, 8, 16]},
    ),
    "rms_norm": (
        "solutions.rms_norm.triton",
        {"WARPS": [4, 8], "PERSISTENT": [0, 1, 2, 4, 8]},
    ),
    "fp8_quant": (
        "solutions.fp8_quant.triton",
        {"ELEMENTS_PER_PROGRAM": [2048, 4096, 8192], "NUM_WARPS": [4, 8]},
    ),
}


def sweep_knobs(slug: str) -> list[dict]:
    problem, (modname, knobs) = get_problem(slug), KNOBS[slug]
    mod, ref = importlib.import_module(modname), importlib.import_module(f"reference.{slug}")
    perf = problem.perf["gpu"]
    copy = timing.copy_bandwidth()
    rows = []
    for case in perf.cases:
        inputs = ref.make_inputs(case, torch.Generator(device="cuda").manual_seed(0))
        expected = getattr(ref, perf.entry)(**inputs)
        for values in itertools.product(*knobs.values()):
            setting = dict(zip(knobs, values))
            for k, v in setting.items():
                setattr(mod, k, v)
            fn = getattr(mod, perf.entry)
            if hasattr(ref, "compare"):
                ref.compare(fn(**inputs), expected, inputs, problem)
            t = timing.time_gpu(lambda i, fn=fn, inputs=inputs: fn(**inputs), budget_s=2.0)
            frac = ref.cost(case)["bytes"] / (t.median_ms * 1e-3) / copy
            rows.append({"case": case, **setting, "ms": t.median_ms, "fraction": frac})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def sweep_gemm() -> list[dict]:
    from solutions.wmma_gemm import cupy as gemm

    rows = []
    for size in (4096, 8192):
        a = torch.randn(size, size, device="cuda").half()
        b = torch.randn(size, size, device="cuda").half()
        ref = (a.float() @ b.float()).half()
        cublas = timing.cublas_flops(size, size, size, torch.float16)
        for name in gemm.KERNELS:
            if name == gemm.ANY:
                continue
            out = gemm._matmul(gemm.SOURCE, a, b, kernel=name)
            err = float((out.float() - ref.float()).abs().max())
            run = lambda i, a=a, b=b, name=name: gemm._matmul(gemm.SOURCE, a, b, kernel=name)  # noqa: E731
            t = timing.time_gpu(run, budget_s=2.0)
            flops = 2 * size**3 / (t.median_ms * 1e-3)
            rows.append(
                {
                    "size": size,
                    "kernel": name,
                    "ms": t.median_ms,
                    "tflops": flops / 1e12,
                    "cublas_tflops": cublas / 1e12,
                    "fraction": flops / cublas,
                    "max_err": err,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    name = sys.argv[1]
    out = sweep_gemm() if name == "gemm" else sweep_knobs(name)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump(out, f, indent=1)
