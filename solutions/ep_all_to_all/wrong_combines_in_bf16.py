"""Known-wrong ep_moe: correct communication, but the weighted sum of the k expert outputs is
accumulated in x.dtype: with bf16 data every partial sum is rounded to an 8-bit mantissa.

float32 data hides it; with bf16 data and signed expert outputs, sums that nearly cancel come
out with errors of several percent.
Rejected by: test_matches_single_process_moe_on_fixed_cases
"""

from __future__ import annotations

import torch

from solutions.ep_all_to_all.torch import ep_moe_with

__all__ = ["combine", "ep_moe"]


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    T, k = weights.shape
    where = torch.empty_like(order)  # (T*k,) slot -> row of y_sorted
    where[order] = torch.arange(order.numel(), device=order.device)
    rows = y_sorted[where].view(T, k, y_sorted.shape[1])  # (T, k, H) in slot order
    out = torch.zeros_like(rows[:, 0])  # BUG: accumulator in x.dtype (bf16), not fp32
    for j in range(k):
        out += weights[:, j, None].to(out.dtype) * rows[:, j]
    return out


def ep_moe(x, ids, weights, expert_fn, num_experts, group=None):
    return ep_moe_with(x, ids, weights, expert_fn, num_experts, group, combine=combine)
