"""Known-wrong MoE routing: torch.topk on the probabilities.

Right whenever the probabilities are distinct, but torch.topk promises no order among equal
values (on the CPU it often returns the higher id first), so tied experts break the contract's
lower-id rule and the token goes to a different expert."""

import torch
import torch.nn.functional as F


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(logits.float(), dim=-1)
    top, ids = torch.topk(probs, top_k, dim=-1)  # BUG: no tie order guaranteed
    return top / top.sum(dim=-1, keepdim=True), ids


def dispatch(x: torch.Tensor, ids: torch.Tensor, num_experts: int):
    k = ids.shape[1]
    flat = ids.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    return x[order // k], torch.bincount(flat, minlength=num_experts), order


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    T, k = weights.shape
    pos = torch.empty_like(order)
    pos[order] = torch.arange(order.numel(), device=order.device)
    y = y_sorted[pos].view(T, k, -1).float()  # (T, k, H)
    return (weights.unsqueeze(-1) * y).sum(dim=1).to(y_sorted.dtype)


def moe_forward(x, logits, w_gate, w_up, w_down, top_k):
    weights, ids = route(logits, top_k)
    x_sorted, counts, order = dispatch(x, ids, w_gate.shape[0])
    y_sorted = torch.empty_like(x_sorted)
    start = 0
    for e, n in enumerate(counts.tolist()):
        xe = x_sorted[start : start + n]
        y_sorted[start : start + n] = (F.silu(xe @ w_gate[e].T) * (xe @ w_up[e].T)) @ w_down[e].T
        start += n
    return combine(y_sorted, order, weights)
