"""Known-wrong MoE combine: accumulates the k weighted expert outputs in the output dtype.

Fine in fp32; in bf16 every add rounds to 8 bits of mantissa, so a small term added next to a
large one vanishes (256 + 1 = 256 in bf16) and a later cancellation exposes the loss.
Rejected by: test_combine_matches_reference_on_fixed_cases
"""

import torch

from solutions.moe_dispatch._variant import moe_forward_with
from solutions.moe_dispatch.torch import dispatch, route

__all__ = ["combine", "dispatch", "moe_forward", "route"]


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    T, k = weights.shape
    pos = torch.empty_like(order)
    pos[order] = torch.arange(order.numel(), device=order.device)
    y = y_sorted[pos].view(T, k, -1)  # (T, k, H)
    out = torch.zeros(T, y.shape[-1], dtype=y_sorted.dtype, device=y.device)
    for j in range(k):
        out += weights[:, j : j + 1].to(y.dtype) * y[:, j]  # BUG: rounds to bf16 after every add
    return out


moe_forward = moe_forward_with(route, dispatch, combine)
