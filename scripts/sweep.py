"""Developer sweep on a GPU: time every kernel variant a solution exposes against its baseline,
in one process (used to pick the defaults shipped in solutions/; not part of grading)."""

from __future__ import annotations

import json
import sys

import torch

from grader import timing


def sweep_gemm() -> list[dict]:
    from solutions.wmma_gemm import cupy as gemm

    rows = []
    for size in (4096, 8192):
        a = torch.randn(size, size, device="cuda").half()
        b = torch.randn(size, size, device="cuda").half()
        ref = (a.float() @ b.float()).half()
        cublas = timing.cublas_flops(size, size, size, torch.float16)
        for name in gemm.KERNELS:
            if name == gemm.ANY and size > 4096:
                continue
            out = gemm._matmul(gemm.SOURCE, a, b, kernel=name)
            err = float((out.float() - ref.float()).abs().max())
            t = timing.time_gpu(lambda i: gemm._matmul(gemm.SOURCE, a, b, kernel=name),
                                budget_s=3.0)
            flops = 2 * size**3 / (t.median_ms * 1e-3)
            rows.append({"size": size, "kernel": name, "ms": t.median_ms, "tflops": flops / 1e12,
                         "cublas_tflops": cublas / 1e12, "fraction": flops / cublas,
                         "max_err": err})
            print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    out = {"gemm": sweep_gemm()} if "gemm" in sys.argv[1:] else {}
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump(out, f, indent=1)
