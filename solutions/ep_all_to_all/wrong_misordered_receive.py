"""Known-wrong ep_moe: the results come back in dispatch order (sorted by expert) and are
combined as if they were in token order: the inverse permutation is never applied.

Token t is combined with the results of whichever slots happened to sort into rows t*k..t*k+k-1;
only routings that are already sorted (one token, one expert) come out right.
Rejected by: test_matches_single_process_moe_on_fixed_cases
"""

from __future__ import annotations

import torch

from solutions.ep_all_to_all.torch import combine as solution_combine
from solutions.ep_all_to_all.torch import ep_moe_with

__all__ = ["combine", "ep_moe"]


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    in_place = torch.arange(order.numel(), device=order.device)  # BUG: ignores order
    return solution_combine(y_sorted, in_place, weights)


def ep_moe(x, ids, weights, expert_fn, num_experts, group=None):
    return ep_moe_with(x, ids, weights, expert_fn, num_experts, group, combine=combine)
