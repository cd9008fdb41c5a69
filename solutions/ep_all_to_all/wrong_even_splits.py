"""Known-wrong ep_moe: skips the per-expert count exchange and assumes every rank's rows are
bound evenly for all W ranks, so each rank sends its n rows in W equal pieces (only the totals
n are exchanged, so that the message sizes agree).

Under skew the rows bound for a busy rank spill into its neighbours' pieces; a neighbour runs
only its own experts, so those rows come back as zeros.
Rejected by: test_matches_single_process_moe_on_fixed_cases
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from solutions.ep_all_to_all.torch import ep_moe_with


def _even(n: int, W: int) -> list[int]:
    return [n // W + (i < n % W) for i in range(W)]  # n rows in W near-equal pieces


def exchange(x, ids, order, expert_fn, num_experts, group=None):
    W, rank = dist.get_world_size(group), dist.get_rank(group)
    L, k = num_experts // W, ids.shape[1]
    send, send_ids = x.index_select(0, order // k), ids.reshape(-1)[order]  # (T*k, H), (T*k,)
    totals = torch.empty(W, dtype=torch.int64, device=x.device)  # rows each rank sends in all
    dist.all_to_all_single(totals, torch.full_like(totals, send_ids.numel()), group=group)
    send_splits = _even(send_ids.numel(), W)  # BUG: even pieces, whatever the routing
    recv_splits = [_even(n, W)[rank] for n in totals.tolist()]
    recv = x.new_empty((sum(recv_splits), x.shape[1]))  # (R, H)
    recv_ids = send_ids.new_empty(sum(recv_splits))
    dist.all_to_all_single(recv, send, recv_splits, send_splits, group=group)
    dist.all_to_all_single(recv_ids, send_ids, recv_splits, send_splits, group=group)
    y = torch.zeros_like(recv)  # (R, H) rows for other ranks' experts stay 0
    for e in range(rank * L, (rank + 1) * L):
        mine = recv_ids == e
        if bool(mine.any()):
            y[mine] = expert_fn(e, recv[mine])
    back = torch.empty_like(send)  # (T*k, H)
    dist.all_to_all_single(back, y, send_splits, recv_splits, group=group)
    return back


def ep_moe(x, ids, weights, expert_fn, num_experts, group=None):
    return ep_moe_with(x, ids, weights, expert_fn, num_experts, group, exchange=exchange)
