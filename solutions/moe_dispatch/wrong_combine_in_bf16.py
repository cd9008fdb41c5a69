"""Known-wrong MoE combine: accumulates the k weighted expert outputs in the output dtype.

Fine in fp32; in bf16 every add rounds to 8 bits of mantissa, so a small term added next to a
large one vanishes (256 + 1 = 256 in bf16) and a later cancellation exposes the loss.
"""

import torch
import torch.nn.functional as F


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(logits.float(), dim=-1)
    top, ids = torch.sort(probs, dim=-1, descending=True, stable=True)
    weights = top[:, :top_k]
    return weights / weights.sum(dim=-1, keepdim=True), ids[:, :top_k].contiguous()


def dispatch(x: torch.Tensor, ids: torch.Tensor, num_experts: int):
    k = ids.shape[1]
    flat = ids.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    return x[order // k], torch.bincount(flat, minlength=num_experts), order


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    T, k = weights.shape
    pos = torch.empty_like(order)
    pos[order] = torch.arange(order.numel(), device=order.device)
    y = y_sorted[pos].view(T, k, -1)  # (T, k, H)
    out = torch.zeros(T, y.shape[-1], dtype=y_sorted.dtype, device=y.device)
    for j in range(k):
        out += weights[:, j : j + 1].to(y.dtype) * y[:, j]  # BUG: rounds to bf16 after every add
    return out


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
