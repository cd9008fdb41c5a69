"""Sum reduction reference: the float64 sum of a float32 vector, returned as a 0-d float32."""

from __future__ import annotations

from typing import Any

import torch


def reduce_sum(x: torch.Tensor) -> torch.Tensor:
    # read 4N bytes, write 4: the whole cost is one pass over x
    return x.double().sum().float()  # () float64 accumulation, rounded once at the end


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """x of N floats with a value pattern; `offset` elements of misalignment (a view at +k)."""
    n, dev, skew = case["N"], gen.device, case.get("offset", 0)
    base = torch.randn(n + skew, generator=gen, device=dev)  # (N + offset,)
    values = case.get("values", "normal")
    if values == "offset":  # random shift and scale, so a constant or partial sum cannot pass
        scale = 0.1 + 9.9 * torch.rand((), generator=gen, device=dev)
        shift = 200 * torch.rand((), generator=gen, device=dev) - 100
        base = base * scale + shift
    elif values == "cancel":  # +v and -v interleaved plus small noise: the sum nearly cancels
        half = base[: (n + skew) // 2] * 1e3
        base[: 2 * half.numel()] = torch.stack([half, -half], dim=1).flatten()
        base += 1e-3 * torch.randn(n + skew, generator=gen, device=dev)
    elif values == "large":  # beyond the float16 range: a half-precision sum overflows
        base = base * 1e5
    return {"x": base[skew:]}  # a contiguous view that starts `offset` floats into the buffer


def cost(case: dict[str, Any]) -> dict[str, float]:
    return {"bytes": 4 * case["N"], "flops": case["N"]}
