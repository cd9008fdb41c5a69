"""Known-wrong ep_moe: correct communication, but the weighted sum of the k expert outputs is
accumulated in x.dtype: with bf16 data every partial sum is rounded to an 8-bit mantissa.

float32 data hides it; with bf16 data and signed expert outputs, sums that nearly cancel come
out with errors of several percent.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def ep_moe(x, ids, weights, expert_fn, num_experts, group=None):
    W, rank = dist.get_world_size(group), dist.get_rank(group)
    L, (T, k) = num_experts // W, ids.shape
    flat = ids.reshape(-1)  # (T*k,)
    order = torch.argsort(flat, stable=True)
    counts = torch.bincount(flat, minlength=num_experts)  # (E,)
    recv_counts = torch.empty_like(counts)
    dist.all_to_all_single(recv_counts, counts, group=group)
    send_splits = counts.view(W, L).sum(1).tolist()
    by_src = recv_counts.view(W, L)  # (W, L)
    recv_splits = by_src.sum(1).tolist()
    send = x.index_select(0, order // k)  # (T*k, H)
    recv = x.new_empty((sum(recv_splits), x.shape[1]))
    dist.all_to_all_single(recv, send, recv_splits, send_splits, group=group)
    y = torch.empty_like(recv)
    at = 0
    for n_row in by_src.tolist():
        for local, n in enumerate(n_row):
            if n:
                y[at : at + n] = expert_fn(rank * L + local, recv[at : at + n])
            at += n
    back = torch.empty_like(send)
    dist.all_to_all_single(back, y, send_splits, recv_splits, group=group)
    where = torch.empty_like(order)
    where[order] = torch.arange(order.numel(), device=order.device)
    rows = back[where].view(T, k, x.shape[1])  # (T, k, H) in slot order
    out = torch.zeros_like(x)  # BUG: accumulator in x.dtype (bf16), not fp32
    for j in range(k):
        out += weights[:, j, None].to(x.dtype) * rows[:, j]
    return out
