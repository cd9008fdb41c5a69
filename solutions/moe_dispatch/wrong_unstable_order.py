"""Known-wrong MoE dispatch: argsort without stable=True.

The slots still end up grouped by expert and counts are right, but inside an expert's group
the tokens come out in whatever order the sort leaves them: order differs from the contract
whenever an expert has more than a few tokens.
Rejected by: test_dispatch_matches_reference_on_fixed_cases
"""

import torch

from solutions.moe_dispatch._variant import moe_forward_with
from solutions.moe_dispatch.torch import combine, route

__all__ = ["combine", "dispatch", "moe_forward", "route"]


def dispatch(x: torch.Tensor, ids: torch.Tensor, num_experts: int):
    k = ids.shape[1]
    flat = ids.reshape(-1)
    order = torch.argsort(flat)  # BUG: not stable, equal expert ids come out in any order
    return x[order // k], torch.bincount(flat, minlength=num_experts), order


moe_forward = moe_forward_with(route, dispatch, combine)
