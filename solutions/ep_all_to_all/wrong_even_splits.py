"""Known-wrong ep_moe: skips the count exchange and assumes every rank sends every other rank
the same number of rows, T*k/W, so all_to_all_single without split sizes seems enough.

Under skew the rows bound for a busy rank spill into its neighbours' blocks; a neighbour runs
only its own experts, so those rows come back as zeros (and when T*k differs between ranks, the
ranks disagree on the message sizes and gloo aborts).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def ep_moe(x, ids, weights, expert_fn, num_experts, group=None):
    W, rank = dist.get_world_size(group), dist.get_rank(group)
    L, (T, k) = num_experts // W, ids.shape
    flat = ids.reshape(-1)  # (T*k,)
    order = torch.argsort(flat, stable=True)  # (T*k,) grouped by owner rank
    send, send_ids = x.index_select(0, order // k), flat[order]  # (T*k, H), (T*k,)
    recv, recv_ids = torch.empty_like(send), torch.empty_like(send_ids)
    dist.all_to_all_single(recv, send, group=group)  # BUG: even splits, whatever the routing
    dist.all_to_all_single(recv_ids, send_ids, group=group)
    y = torch.zeros_like(recv)
    for e in range(rank * L, (rank + 1) * L):
        mine = recv_ids == e
        if bool(mine.any()):
            y[mine] = expert_fn(e, recv[mine])
    back = torch.empty_like(y)
    dist.all_to_all_single(back, y, group=group)
    where = torch.empty_like(order)
    where[order] = torch.arange(order.numel(), device=order.device)
    rows = back[where].view(T, k, x.shape[1])  # (T, k, H)
    out = torch.zeros((T, x.shape[1]), dtype=torch.float32, device=x.device)
    for j in range(k):
        out += weights[:, j, None] * rows[:, j].float()
    return out.to(x.dtype)
