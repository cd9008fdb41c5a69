"""Known-wrong ep_moe: the results come back in dispatch order (sorted by expert) and are
combined as if they were in token order: the inverse permutation is never applied.

Token t is combined with the results of whichever slots happened to sort into rows t*k..t*k+k-1;
only routings that are already sorted (one token, one expert) come out right.
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
    by_src = recv_counts.view(W, L)  # (W, L) rows from each source for each local expert
    recv_splits = by_src.sum(1).tolist()
    send = x.index_select(0, order // k)  # (T*k, H)
    recv = x.new_empty((sum(recv_splits), x.shape[1]))
    dist.all_to_all_single(recv, send, recv_splits, send_splits, group=group)
    y = torch.empty_like(recv)
    at = 0
    for n_row in by_src.tolist():  # one (source, expert) block at a time, in arrival order
        for local, n in enumerate(n_row):
            if n:
                y[at : at + n] = expert_fn(rank * L + local, recv[at : at + n])
            at += n
    back = torch.empty_like(send)
    dist.all_to_all_single(back, y, send_splits, recv_splits, group=group)
    rows = back.view(T, k, x.shape[1])  # BUG: back is in dispatch order, not slot order t*k+j
    out = torch.zeros((T, x.shape[1]), dtype=torch.float32, device=x.device)
    for j in range(k):
        out += weights[:, j, None] * rows[:, j].float()
    return out.to(x.dtype)
