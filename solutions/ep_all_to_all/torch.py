"""Expert-parallel MoE over torch.distributed: exchange counts, dispatch rows with one uneven
all_to_all_single, run the local experts, send the results back, combine in fp32.

Idea: sort this rank's T*k slots by expert id. Experts are owned in contiguous ranges, so the
sorted rows are already grouped by destination rank, and each rank's block is sorted by
expert. One small all_to_all of per-expert counts tells every owner how many rows it gets from
each source for each of its experts; one host sync turns both count vectors into the Python
split lists all_to_all_single needs. On the owner, each (source, expert) piece is a contiguous
slice: the expert runs on it as a view, and concatenating the outputs keeps arrival order, so
the same all_to_all with the splits swapped returns them. The sender undoes its sort with the
inverse permutation and sums the k weighted results per token in fp32 (one fused Triton kernel
on a GPU, eager PyTorch on the CPU).
Communication per rank: T*k*H elements out and T*k*H back, plus E counts.
Local memory traffic: gather x into send order (read + write T*k*H), the experts' own passes,
one concatenation (read + write R*H on the owner), the combine (read T*k*H, write T*H).
Limits: nothing overlaps (each all_to_all waits for the step before; pipelining token chunks
would hide the local passes behind the transfers, at the price of more launches); one host
sync per call for the split sizes; an expert is called once per source rank that sent it rows,
so a GEMM expert sees W smaller batches instead of one (grouping them costs a gather and a
scatter of the received rows).
ep_moe is ep_moe_with(exchange, combine); each wrong_*.py variant passes its own version of one.
Run it: `dojo check ep_all_to_all --impl solution`; on 2 GPUs `dojo bench ep_all_to_all`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import triton
import triton.language as tl

# "default" is the exchange below; the names of _fast.VARIANTS select a faster one (sync-free
# counts, overlapped gather, chunked pipelining, own rows kept local, grouped experts).
VARIANT = "default"


def dispatch_plan(
    ids: torch.Tensor, num_experts: int, world_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(order, send_counts): slots t*k+j stably sorted by expert id; slots bound for each rank."""
    flat = ids.reshape(-1)  # (T*k,)
    order = torch.argsort(flat, stable=True)  # (T*k,) grouped by owner, by expert within
    owner = flat // (num_experts // world_size)  # (T*k,)
    return order, torch.bincount(owner, minlength=world_size)  # (W,)


def ep_moe(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    expert_fn: Callable[[int, torch.Tensor], torch.Tensor],
    num_experts: int,
    group: Any = None,
) -> torch.Tensor:
    if VARIANT != "default":
        from solutions.ep_all_to_all import _fast  # imports this module: loaded on first use

        return _fast.ep_moe(x, ids, weights, expert_fn, num_experts, group, variant=VARIANT)
    return ep_moe_with(x, ids, weights, expert_fn, num_experts, group)


def exchange(
    x: torch.Tensor,
    ids: torch.Tensor,
    order: torch.Tensor,
    expert_fn: Callable[[int, torch.Tensor], torch.Tensor],
    num_experts: int,
    group: Any = None,
) -> torch.Tensor:
    """Sends slot order[i]'s row of x to the rank owning its expert, runs the experts there and
    returns the (T*k, H) results in dispatch order: row i is the result for slot order[i]."""
    W, rank = dist.get_world_size(group), dist.get_rank(group)
    L, k = num_experts // W, ids.shape[1]  # L experts per rank
    flat = ids.reshape(-1)  # (T*k,)
    counts = torch.bincount(flat, minlength=num_experts)  # (E,) rows I send to each expert
    recv_counts = torch.empty_like(counts)  # (E,) [s*L + l]: rows rank s sends my l-th expert
    dist.all_to_all_single(recv_counts, counts, group=group)  # even split: L counts per rank
    host = torch.cat([counts, recv_counts]).tolist()  # the one host sync: splits are Python ints
    send_splits = [sum(host[d * L : (d + 1) * L]) for d in range(W)]
    from_src = [host[num_experts + s * L : num_experts + (s + 1) * L] for s in range(W)]  # (W, L)
    recv_splits = [sum(row) for row in from_src]

    send = x.index_select(0, order // k)  # (T*k, H) read + write T*k*H
    recv = x.new_empty((sum(recv_splits), x.shape[1]))  # (R, H)
    dist.all_to_all_single(recv, send, recv_splits, send_splits, group=group)
    y = _run_local_experts(recv, from_src, expert_fn, rank * L)  # (R, H) in arrival order
    back = torch.empty_like(send)  # (T*k, H) results in dispatch order
    dist.all_to_all_single(back, y, send_splits, recv_splits, group=group)
    return back


def _run_local_experts(
    recv: torch.Tensor,
    from_src: list[list[int]],
    expert_fn: Callable[[int, torch.Tensor], torch.Tensor],
    first_expert: int,
) -> torch.Tensor:
    """recv holds one block per source rank, each sorted by local expert: from_src[s][l] rows
    of source s for local expert l. Each piece is a slice; the outputs concatenated in the same
    order are the reply, in arrival order."""
    outs, at = [], 0
    for row in from_src:
        for local, n in enumerate(row):
            if n:  # an expert nobody sent rows to is not called
                outs.append(expert_fn(first_expert + local, recv[at : at + n]))  # (n, H)
            at += n
    if not outs:
        return recv  # no rows arrived: (0, H)
    return outs[0].contiguous() if len(outs) == 1 else torch.cat(outs)  # (R, H) r+w R*H


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """out[t] = sum_j weights[t, j] * (result of slot t*k+j), accumulated in fp32; y_sorted
    holds the results in dispatch order, row i belonging to slot order[i]."""
    T, k = weights.shape
    where = torch.empty_like(order)  # (T*k,) inverse permutation: slot -> row of y_sorted
    where[order] = torch.arange(order.numel(), device=order.device)
    if y_sorted.is_cuda:
        return _combine_on_gpu(y_sorted.contiguous(), where, weights.contiguous())
    where = where.view(T, k)
    out = torch.zeros((T, y_sorted.shape[1]), dtype=torch.float32, device=y_sorted.device)
    for j in range(k):  # per slot: read T*H of y_sorted, read + write T*H fp32
        out.addcmul_(y_sorted.index_select(0, where[:, j]), weights[:, j, None])
    return out.to(y_sorted.dtype)


@triton.jit
def _combine_kernel(y_ptr, where_ptr, w_ptr, out_ptr, H, K: tl.constexpr, BLOCK_H: tl.constexpr):
    # Program (t, b) owns out[t, b*BLOCK_H : (b+1)*BLOCK_H]: reads K rows of y (token t's slots)
    # and K weights, accumulates in fp32 in slot order, writes one rounded chunk.
    t = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    mask = cols < H
    acc = tl.zeros([BLOCK_H], dtype=tl.float32)
    for j in tl.static_range(K):
        row = tl.load(where_ptr + t * K + j)  # int64: where slot t*K+j's result sits
        y = tl.load(y_ptr + row * H + cols, mask=mask, other=0.0)
        acc += tl.load(w_ptr + t * K + j) * y.to(tl.float32)
    tl.store(out_ptr + t * H + cols, acc.to(out_ptr.dtype.element_ty), mask=mask)


def _combine_on_gpu(
    y_sorted: torch.Tensor, where: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """One pass: read T*k*H of y_sorted, write T*H (the eager loop makes ~5 passes, in fp32)."""
    T, k = weights.shape
    H = y_sorted.shape[1]
    out = torch.empty((T, H), dtype=y_sorted.dtype, device=y_sorted.device)  # (T, H)
    if out.numel() == 0:
        return out
    block = min(1024, triton.next_power_of_2(H))
    grid = (T, triton.cdiv(H, block))
    _combine_kernel[grid](y_sorted, where, weights, out, H, K=k, BLOCK_H=block, num_warps=4)
    return out


def ep_moe_with(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    expert_fn: Callable[[int, torch.Tensor], torch.Tensor],
    num_experts: int,
    group: Any = None,
    *,
    exchange: Callable[..., torch.Tensor] = exchange,
    combine: Callable[..., torch.Tensor] = combine,
) -> torch.Tensor:
    """ep_moe from its two stages, exchange and combine (the wrong_*.py variants pass their own)."""
    W = dist.get_world_size(group)
    if num_experts % W:
        raise ValueError(f"num_experts={num_experts} is not a multiple of the group size {W}")
    order = torch.argsort(ids.reshape(-1), stable=True)  # (T*k,) dispatch order
    back = exchange(x, ids, order, expert_fn, num_experts, group)  # (T*k, H) in dispatch order
    return combine(back, order, weights)  # (T, H)
