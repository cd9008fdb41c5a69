"""RMSNorm reference with Hugging Face Llama semantics: fp32 statistics, output in x.dtype."""

from __future__ import annotations

from typing import Any

import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    # read x (N*H) and weight (H), write out (N*H): a memory-bound op, 2 bytes moved per flop
    xf = x.float()  # (..., H) fp32 copy: the statistics must not be computed in half precision
    inv_rms = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)  # (..., 1)
    # HF casts the normalised value back to x.dtype *before* scaling by weight
    return weight * (xf * inv_rms).to(x.dtype)  # (..., H)


def fused_add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pre-norm residual stream step: h = x + residual (in x.dtype); (rms_norm(h), h)."""
    h = x + residual  # (..., H) the new residual stream, rounded to x.dtype as HF does
    return rms_norm(h, weight, eps), h


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """x of shape (*lead, rows, H) with the case's value pattern, weight around 1 with signs."""
    dtype, dev = getattr(torch, case["dtype"]), gen.device
    shape = (*case.get("lead", ()), case["rows"], case["H"])
    x = torch.randn(shape, generator=gen, device=dev)  # (*lead, rows, H) fp32
    values = case.get("values", "normal")
    if values == "tiny":  # mean square ~1e-8, far below eps: eps placement decides the answer
        x = x * 1e-4
    elif values == "large":  # squares overflow fp16, so the sum of squares must be fp32
        x = x * 300.0
    elif values == "offset":  # a large common offset: catastrophic if accumulated in fp16
        x = x + 100.0
    elif values == "constant":
        x = torch.full_like(x, 0.5)
    weight = 1.0 + 0.5 * torch.randn(case["H"], generator=gen, device=dev)  # (H,)
    return {"x": x.to(dtype), "weight": weight.to(dtype), "eps": case.get("eps", 1e-6)}


def cost(case: dict[str, Any]) -> dict[str, float]:
    n = case["rows"] * int(torch.tensor(case.get("lead", [1])).prod())
    size = torch.finfo(getattr(torch, case["dtype"])).bits // 8
    return {"bytes": 2 * n * case["H"] * size + case["H"] * size, "flops": 4 * n * case["H"]}
