"""Softmax reference with torch.softmax semantics: fp32 math over the last dim, x.dtype out."""

from __future__ import annotations

from typing import Any

import torch

NEG_INF = float("-inf")


def softmax(x: torch.Tensor) -> torch.Tensor:
    # read M*N, write M*N: the floor for any softmax, so the op is memory-bound
    # torch semantics: -inf entries give exactly 0, a row that is all -inf gives NaN (0/0)
    return torch.softmax(x.float(), dim=-1).to(x.dtype)  # (M, N) fp32 math, rounded once


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """x of shape (M, N) with the case's value pattern, drawn in fp32 and cast to the dtype."""
    m, n, dev = case["M"], case["N"], gen.device
    x = torch.randn(m, n, generator=gen, device=dev)  # (M, N)
    values = case.get("values", "normal")
    if values == "wide":  # outputs span e^-200..1: most underflow, a few dominate
        x = x * 30.0
    elif values == "large":  # scattered +-1e4: exp(1e4) overflows fp32 unless the max is subtracted
        u = torch.rand(m, n, generator=gen, device=dev)  # (M, N)
        x = torch.where(u < 0.02, 1e4, torch.where(u > 0.98, -1e4, x))
        x[:, 0] = 1e4  # every row holds at least one 1e4
    elif values == "near_1e4":  # every entry near 1e4: overflow without the shift, yet not one-hot
        x = x + 1e4
    elif values == "offset":  # a large per-row offset: the shift must be the row's own max
        x = x + 500.0 * (2 * torch.rand(m, 1, generator=gen, device=dev) - 1)
    elif values == "neginf":  # masked logits: about 30% of the entries are -inf
        u = torch.rand(m, n, generator=gen, device=dev)  # (M, N)
        x = torch.where(u < 0.3, NEG_INF, x)
    elif values == "neginf_prefix":  # a masked prefix longer than a block, then real values
        x[:, : (2 * n) // 3] = NEG_INF
    elif values == "all_neginf":  # every other row entirely -inf: torch gives NaN there
        x[::2] = NEG_INF
    elif values != "normal":
        raise ValueError(f"unknown value pattern {values!r}")
    return {"x": x.to(getattr(torch, case["dtype"]))}


def cost(case: dict[str, Any]) -> dict[str, float]:
    size = torch.finfo(getattr(torch, case["dtype"])).bits // 8
    elems = case["M"] * case["N"]
    return {"bytes": 2 * elems * size, "flops": 5 * elems}  # max, subtract, exp, sum, scale
