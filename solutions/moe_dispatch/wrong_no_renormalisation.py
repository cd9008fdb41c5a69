"""Known-wrong MoE routing: keeps the raw softmax probabilities of the top-k experts.

The weights then sum to less than 1 (Mixtral and DeepSeek renormalise over the chosen k), so
every token's output is scaled down by the probability mass of the experts it skipped.
Rejected by: test_route_matches_reference_on_fixed_cases
"""

import torch

from solutions.moe_dispatch._variant import moe_forward_with
from solutions.moe_dispatch.torch import combine, dispatch

__all__ = ["combine", "dispatch", "moe_forward", "route"]


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(logits.float(), dim=-1)
    top, ids = torch.sort(probs, dim=-1, descending=True, stable=True)
    return top[:, :top_k].contiguous(), ids[:, :top_k].contiguous()  # BUG: not renormalised


moe_forward = moe_forward_with(route, dispatch, combine)
