"""fp16 GEMM reference: C = A @ B accumulated in fp32, rounded once to fp16."""

from __future__ import annotations

from typing import Any

import torch


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # read 2(MK + KN) bytes, write 2MN; 2MNK FLOPs: compute-bound for large M, N, K
    return (a.float() @ b.float()).half()  # (M, N) fp32 accumulation, one rounding


def matmul_fp16(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same product with an fp16 running sum, rounded after every k: what an fp16
    accumulator fragment computes. The null answer `null:fp16` uses it; it must fail."""
    acc = torch.zeros(a.shape[0], b.shape[1], dtype=torch.float16, device=a.device)  # (M, N)
    for k in range(a.shape[1]):
        acc = (acc.float() + a[:, k : k + 1].float() * b[k : k + 1, :].float()).half()
    return acc


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """a (M, K), b (K, N) fp16; `offset` starts both one element into a buffer (misaligned);
    values 'positive' makes every partial sum grow, the worst case for an fp16 accumulator."""
    m, n, k, dev, off = case["M"], case["N"], case["K"], gen.device, case.get("offset", 0)
    flat_a = torch.randn(m * k + off, generator=gen, device=dev)  # (M*K + offset,)
    flat_b = torch.randn(k * n + off, generator=gen, device=dev)  # (K*N + offset,)
    if case.get("values") == "positive":
        flat_a, flat_b = flat_a.abs(), flat_b.abs()
    a = flat_a.half()[off:].view(m, k)  # (M, K) contiguous, maybe not 16-byte aligned
    b = flat_b.half()[off:].view(k, n)  # (K, N)
    return {"a": a, "b": b}


def cost(case: dict[str, Any]) -> dict[str, float]:
    m, n, k = case["M"], case["N"], case["K"]
    return {"bytes": 2 * (m * k + k * n + m * n), "flops": 2 * m * n * k}
