"""For the wrong_*.py variants: a moe_forward assembled from the route, dispatch and combine a
variant passes in (one of them carries its bug) and the solution's expert GEMMs, so each
variant file holds only its bug."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from solutions.moe_dispatch import torch as solution


def moe_forward_with(route: Callable, dispatch: Callable, combine: Callable) -> Callable:
    def moe_forward(x, logits, w_gate, w_up, w_down, top_k) -> torch.Tensor:
        weights, ids = route(logits, top_k)  # (T, k), (T, k)
        x_sorted, counts, order = dispatch(x, ids, w_gate.shape[0])  # (T*k, H), (E,), (T*k,)
        grouped = solution.can_group(x, w_down)
        g = solution.expert_linear(x_sorted, counts, w_gate, grouped)  # (T*k, F)
        h = F.silu(g) * solution.expert_linear(x_sorted, counts, w_up, grouped)  # (T*k, F)
        y_sorted = solution.expert_linear(h, counts, w_down, grouped)  # (T*k, H)
        return combine(y_sorted, order, weights)  # (T, H)

    return moe_forward
