"""Known-wrong MoE routing: torch.topk on the probabilities.

Right whenever the probabilities are distinct, but torch.topk promises no order among equal
values (on the CPU it often returns the higher id first), so tied experts break the contract's
lower-id rule and the token goes to a different expert.
Rejected by: test_route_matches_reference_on_fixed_cases
"""

import torch

from solutions.moe_dispatch._variant import moe_forward_with
from solutions.moe_dispatch.torch import combine, dispatch

__all__ = ["combine", "dispatch", "moe_forward", "route"]


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(logits.float(), dim=-1)
    top, ids = torch.topk(probs, top_k, dim=-1)  # BUG: no tie order guaranteed
    return top / top.sum(dim=-1, keepdim=True), ids


moe_forward = moe_forward_with(route, dispatch, combine)
