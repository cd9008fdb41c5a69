"""Expert-parallel MoE over torch.distributed: exchange counts, dispatch rows with one uneven
all_to_all_single, run each local expert once, send the results back, combine in fp32.

Idea: sort this rank's T*k slots by expert id. Experts are owned in contiguous ranges, so the
sorted rows are already grouped by destination rank and each rank's block is sorted by expert.
One small all_to_all of per-expert counts tells every owner how many rows it will get from
each source for each of its experts; one host sync turns both count vectors into the Python
split lists all_to_all_single needs. The owner runs expert e on all its rows at once (one call
per local expert, so a real expert is one GEMM, not W small ones), writes the results back in
arrival order, and the same all_to_all with the splits swapped returns them. The sender undoes
its sort with the inverse permutation and sums the k weighted results per token in fp32.
Communication per rank: T*k*H elements out and back (+ E counts). Local memory traffic: the
gather of x into send order (read + write T*k*H), on the owner one gather per expert when rows
arrive from several ranks (read + write R*H), the combine (read T*k*H, write T*H).
Limits: nothing overlaps (the return all_to_all waits for every expert; pipelining token chunks
would hide the gather and combine behind the transfers); one host sync per call for the split
sizes; the fp32 combine is unfused eager PyTorch.
Run it: `dojo check ep_all_to_all --impl solution`; on 2 GPUs `dojo bench ep_all_to_all`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist


def dispatch_plan(ids: torch.Tensor, num_experts: int,
                  world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(order, send_counts): slots t*k+j stably sorted by expert id; slots bound for each rank."""
    flat = ids.reshape(-1)  # (T*k,)
    order = torch.argsort(flat, stable=True)  # (T*k,) grouped by owner, by expert within
    owner = flat // (num_experts // world_size)  # (T*k,)
    return order, torch.bincount(owner, minlength=world_size)  # (W,)


def ep_moe(x: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor,
           expert_fn: Callable[[int, torch.Tensor], torch.Tensor], num_experts: int,
           group: Any = None) -> torch.Tensor:
    W, rank = dist.get_world_size(group), dist.get_rank(group)
    if num_experts % W:
        raise ValueError(f"num_experts={num_experts} is not a multiple of the group size {W}")
    L, k = num_experts // W, ids.shape[1]  # L experts per rank
    flat = ids.reshape(-1)  # (T*k,)
    order = torch.argsort(flat, stable=True)  # (T*k,) dispatch order
    counts = torch.bincount(flat, minlength=num_experts)  # (E,) rows I send to each expert
    recv_counts = torch.empty_like(counts)  # (E,) [s*L + l]: rows rank s sends my l-th expert
    dist.all_to_all_single(recv_counts, counts, group=group)  # even split: L counts per rank
    host = torch.cat([counts, recv_counts]).tolist()  # the one host sync: splits are Python ints
    send_splits = [sum(host[d * L:(d + 1) * L]) for d in range(W)]
    from_src = [host[num_experts + s * L:num_experts + (s + 1) * L] for s in range(W)]  # (W, L)
    recv_splits = [sum(row) for row in from_src]

    send = x.index_select(0, order // k)  # (T*k, H) read + write T*k*H
    recv = x.new_empty((sum(recv_splits), x.shape[1]))  # (R, H)
    dist.all_to_all_single(recv, send, recv_splits, send_splits, group=group)
    y = _run_local_experts(recv, from_src, expert_fn, rank * L)  # (R, H) in arrival order
    back = torch.empty_like(send)  # (T*k, H) results in dispatch order
    dist.all_to_all_single(back, y, send_splits, recv_splits, group=group)
    return _combine(back, order, weights, x.dtype)


def _run_local_experts(recv: torch.Tensor, from_src: list[list[int]],
                       expert_fn: Callable[[int, torch.Tensor], torch.Tensor],
                       first_expert: int) -> torch.Tensor:
    """recv holds one block per source rank, each sorted by local expert: from_src[s][l] rows
    of source s for expert l. Run each expert once on all its rows, write results in place."""
    y = torch.empty_like(recv)  # (R, H)
    start, at = [], 0
    for row in from_src:  # start[s][l]: first row of (source s, expert l) in recv
        start.append([])
        for n in row:
            start[-1].append(at)
            at += n
    for l in range(len(from_src[0])):
        pieces = [(start[s][l], n[l]) for s, n in enumerate(from_src) if n[l]]
        if not pieces:
            continue  # nobody routed a token to this expert
        if len(pieces) == 1:
            rows = recv[pieces[0][0]:pieces[0][0] + pieces[0][1]]  # (n_e, H) a view
        else:  # rows from several sources: one copy, so the expert sees one batch
            rows = torch.cat([recv[a:a + n] for a, n in pieces])  # (n_e, H)
        out = expert_fn(first_expert + l, rows)  # (n_e, H)
        done = 0
        for a, n in pieces:
            y[a:a + n] = out[done:done + n]  # back to arrival order: that is what senders expect
            done += n
    return y


def _combine(back: torch.Tensor, order: torch.Tensor, weights: torch.Tensor,
             dtype: torch.dtype) -> torch.Tensor:
    """out[t] = sum_j weights[t, j] * result of slot t*k+j, accumulated in fp32."""
    T, k = weights.shape
    where = torch.empty_like(order)  # (T*k,) inverse permutation: slot -> row of `back`
    where[order] = torch.arange(order.numel(), device=order.device)
    where = where.view(T, k)
    out = torch.zeros((T, back.shape[1]), dtype=torch.float32, device=back.device)  # (T, H)
    for j in range(k):  # read T*H of back and T*H of out, write T*H, per slot
        out.addcmul_(back.index_select(0, where[:, j]), weights[:, j, None])
    return out.to(dtype)
