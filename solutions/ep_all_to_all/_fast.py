"""Faster exchanges for ep_moe, chosen by VARIANT in torch.py (the plain one stays the default
until measured on 2 GPUs: scripts/gpu_ep_sweep.py times them all against it).

What they change, all with the same numbers as the default (the experts are row-wise and the
combine is the solution's, fp32 in slot order):
- counts without a host sync: torch.bincount on CUDA reads min and max back to the host (two
  syncs before the one we need); a scatter_add of ones does not.
- the counts leave first, on a side stream; the sort of the slots, the gather of x into send
  order and the inverse permutation are queued on the compute stream while they travel, so the
  one host sync waits for max(that work, counts) instead of their sum.
- chunks: the tokens split into C chunks sent with async all_to_all_single calls; the experts
  of chunk c (and the combine of its tokens) run while later chunks are on the wire.
- local: rows for this rank's own experts never enter NCCL (self split 0); their experts run
  while the remote rows travel. Under uniform routing it moves (W-1)/W of the bytes the
  baseline moves (the baseline's own-rank split is a copy inside NCCL).
- grouped: each local expert called once on all its rows (a gather of the received rows by
  expert, and index_copy of the outputs back to arrival order) instead of once per source.
Slot layout of the send buffer: by chunk, then by destination rank, then by expert (local: a
rank's own rows leave the chunks and form one block by expert after them, so each local expert
is called once on them); the return trip writes the results in the same layout, and the
solution's combine kernel undoes it with the inverse permutation.
Run it: set VARIANT in torch.py, then `dojo check ep_all_to_all --impl solution`; on 2 GPUs
`python scripts/gpu_ep_sweep.py` times every variant against the default and the baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from solutions.ep_all_to_all import torch as sol


@dataclass(frozen=True, slots=True)
class Variant:
    """One exchange: how many token chunks, own rows local or not, experts grouped or not."""

    chunks: int = 1  # token chunks pipelined through the two all_to_all trips
    local: bool = False  # own rows stay off the wire
    grouped: bool = False  # one expert_fn call per local expert (chunks == 1 only)

    def __post_init__(self):
        if self.chunks < 1:
            raise ValueError(f"chunks must be >= 1, got {self.chunks}")
        if self.grouped and (self.chunks != 1 or self.local):
            raise ValueError("grouped is implemented for chunks=1 without local only")


VARIANTS = {
    "overlap": Variant(),
    "grouped": Variant(grouped=True),
    "chunks2": Variant(chunks=2),
    "chunks4": Variant(chunks=4),
    "local": Variant(local=True),
    "local_chunks2": Variant(chunks=2, local=True),
    "local_chunks4": Variant(chunks=4, local=True),
}


def counts_of(keys: torch.Tensor, bins: int) -> torch.Tensor:
    """bincount without a host sync (CUDA's bincount reads min and max back to size its output)."""
    out = torch.zeros(bins, dtype=torch.int64, device=keys.device)  # (bins,)
    return out.scatter_add_(0, keys, torch.ones_like(keys))


_SIDE: dict[torch.device, torch.cuda.Stream] = {}  # a cache: one side stream per device


def counts_to_host(
    sent: torch.Tensor, group: Any, meanwhile: Callable[[], Any]
) -> tuple[list[int], list[int], Any]:
    """all_to_all of `sent` (even split), both count tensors read back to Python lists (the one
    host sync), and meanwhile() run on the current stream while the counts travel."""
    got = torch.empty_like(sent)
    if not sent.is_cuda:
        dist.all_to_all_single(got, sent, group=group)
        return sent.reshape(-1).tolist(), got.reshape(-1).tolist(), meanwhile()
    if sent.device not in _SIDE:
        _SIDE[sent.device] = torch.cuda.Stream(sent.device)
    side = _SIDE[sent.device]
    side.wait_stream(torch.cuda.current_stream(sent.device))  # sent is ready
    host = torch.empty(2 * sent.numel(), dtype=torch.int64, pin_memory=True)
    with torch.cuda.stream(side):
        dist.all_to_all_single(got, sent, group=group)
        host.copy_(torch.cat([sent.reshape(-1), got.reshape(-1)]), non_blocking=True)
        ready = torch.cuda.Event()
        ready.record(side)
    result = meanwhile()  # queued on the current stream: runs while the counts travel
    ready.synchronize()  # the host sync: only the counts, not the gather
    both = host.tolist()
    return both[: sent.numel()], both[sent.numel() :], result


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk's rows of the send buffer and its split lists (plain Python ints)."""

    tokens: tuple[int, int]  # [lo, hi) token range
    wire: tuple[int, int]  # rows of the send buffer that go through all_to_all
    send_splits: list[int]
    recv_splits: list[int]
    from_src: list[list[int]]  # (W, L) rows from source s for local expert l


def plan_chunks(
    sent: list[int], got: list[int], W: int, rank: int, bounds: list[int], local: bool
) -> tuple[list[Chunk], tuple[int, list[int]]]:
    """sent/got are (W, C, L) flattened: rows this rank sends to rank d for chunk c and expert
    d*L+l, and rows rank s sends it. Returns the chunks, whose wire rows follow each other from
    row 0, and (first row, rows per local expert) of the own block after them (local only)."""
    C, L, out, at = len(bounds) - 1, len(sent) // (W * (len(bounds) - 1)), [], 0
    own = [0] * L
    for c in range(C):
        per_dest = [sum(sent[(d * C + c) * L : (d * C + c + 1) * L]) for d in range(W)]
        from_src = [got[(s * C + c) * L : (s * C + c + 1) * L] for s in range(W)]
        if local:
            own = [n + m for n, m in zip(own, sent[(rank * C + c) * L : (rank * C + c + 1) * L])]
            per_dest[rank], from_src[rank] = 0, [0] * L
        wire = (at, at + sum(per_dest))
        recv_splits = [sum(row) for row in from_src]
        out.append(Chunk((bounds[c], bounds[c + 1]), wire, per_dest, recv_splits, from_src))
        at = wire[1]
    return out, (at, own if local else [])


def ep_moe(x, ids, weights, expert_fn, num_experts: int, group: Any = None, *, variant: str):
    """ep_moe with the exchange of VARIANTS[variant]; the same result as the default."""
    v = VARIANTS[variant]
    W, rank = dist.get_world_size(group), dist.get_rank(group)
    if num_experts % W:
        raise ValueError(f"num_experts={num_experts} is not a multiple of the group size {W}")
    (T, k), L, E = ids.shape, num_experts // W, num_experts
    flat = ids.reshape(-1)  # (T*k,)
    tc = max(1, -(-T // v.chunks))  # tokens per chunk; every rank makes v.chunks pairs of calls
    bounds = [min(c * tc, T) for c in range(v.chunks + 1)]
    key = flat  # (T*k,) chunk * E + expert
    if v.chunks > 1:
        key = torch.arange(T * k, device=ids.device) // (tc * k) * E + flat
    sent = counts_of(key, v.chunks * E).view(v.chunks, W, L).transpose(0, 1).contiguous()
    if v.local:  # own rows sort after every chunk, as one block by expert
        key = torch.where(flat // L == rank, flat + v.chunks * E, key)  # (T*k,)
    # The counts (W, C, L) leave first; the sort and the gather are queued while they travel.
    sent_l, got_l, (order, send, where) = counts_to_host(
        sent, group, lambda: _sort_and_gather(x, key, k)
    )
    chunks, own = plan_chunks(sent_l, got_l, W, rank, bounds, v.local)
    back = torch.empty_like(send)  # (T*k, H) results in the send layout
    done = _pipeline(x, send, back, chunks, own, order, weights, expert_fn, rank * L, group, v)
    return _combine_chunks(back, chunks, done, order, where, weights)


def _sort_and_gather(x, key, k: int):
    """(order, send, where): slots stably sorted by key, x's rows in that order (r+w T*k*H),
    and the inverse permutation for the combine (slot -> row of send)."""
    order = torch.argsort(key, stable=True)  # (T*k,)
    where = torch.empty_like(order)  # (T*k,)
    where[order] = torch.arange(order.numel(), device=order.device)
    return order, x.index_select(0, order // k), where


def _pipeline(x, send, back, chunks, own, order, weights, expert_fn, first, group, v):
    """All dispatches first (one NCCL stream runs them in issue order), the own rows' experts
    while they travel, then per chunk: wait for its rows, run its experts, send the results
    back. Returns the return trips' (work handle, y), in chunk order."""
    recvs, works = [], []
    for ch in chunks:
        recv = send.new_empty((sum(ch.recv_splits), send.shape[1]))  # (R_c, H)
        a, b = ch.wire
        w = dist.all_to_all_single(
            recv, send[a:b], ch.recv_splits, ch.send_splits, group=group, async_op=True
        )
        recvs.append(recv)
        works.append(w)
    _run_own(x, order, weights.shape[1], back, own, expert_fn, first)  # nothing unless local
    returns = []  # (work handle, y): y stays alive until its return trip has run
    for ch, recv, w in zip(chunks, recvs, works):
        w.wait()  # the current stream waits for this chunk's rows (the host does not)
        run = _run_grouped if v.grouped else sol._run_local_experts
        y = run(recv, ch.from_src, expert_fn, first)  # (R_c, H) in arrival order
        a, b = ch.wire
        back_c = back[a:b]  # (rows sent in chunk c, H)
        work = dist.all_to_all_single(
            back_c, y, ch.send_splits, ch.recv_splits, group=group, async_op=True
        )
        returns.append((work, y))
    return returns


def _run_own(x, order, k: int, back, own: tuple[int, list[int]], expert_fn, first: int) -> None:
    """The experts on the own rows (one call per local expert), written into back's last rows.
    The rows are gathered again into a buffer of their own: expert_fn may share or keep its
    input (the test harness moves it to shared memory), so it must not see a view of `send`
    while a dispatch reads it."""
    a, pieces = own
    if not sum(pieces):
        return
    rows = x.index_select(0, order[a:] // k)  # (n_own, H) r+w, while the dispatches travel
    outs, at = [], 0
    for j, n in enumerate(pieces):
        if n:
            outs.append(expert_fn(first + j, rows[at : at + n]))  # (n, H)
        at += n
    torch.cat(outs, out=back[a:])  # (n_own, H) r+w


def _run_grouped(recv, from_src, expert_fn, first: int) -> torch.Tensor:
    """Each local expert once on all its rows: gather them by expert (r+w R*H), run, and
    index_copy the outputs back to arrival order (r+w R*H, instead of the cat)."""
    W, L = len(from_src), len(from_src[0])
    sizes = [from_src[s][j] for j in range(L) for s in range(W)]  # pieces in expert order
    at, starts = 0, [0] * (W * L)
    for s in range(W):
        for j in range(L):
            starts[j * W + s], at = at, at + from_src[s][j]  # arrival offset of piece (s, j)
    if at == 0:
        return recv
    # One small host-to-device copy, from pinned memory so that it does not wait for the stream
    # (a pageable copy would stall the host until the dispatch has arrived).
    small = torch.tensor(sizes + starts, pin_memory=recv.is_cuda)  # (2*W*L,)
    size_t, start_t = small.to(recv.device, non_blocking=True).split(W * L)  # (W*L,) each
    first_row = torch.cumsum(size_t, 0) - size_t  # (W*L,) grouped offset of each piece
    rows = torch.arange(at, device=recv.device)  # (R,) grouped position
    perm = start_t.repeat_interleave(size_t, output_size=at) + rows  # (R,) arrival row
    perm -= first_row.repeat_interleave(size_t, output_size=at)
    grouped = recv.index_select(0, perm)  # (R, H) by expert: r+w R*H
    y, pos = torch.empty_like(recv), 0  # (R, H) arrival order
    for j in range(L):
        n = sum(from_src[s][j] for s in range(W))
        if n:
            y.index_copy_(0, perm[pos : pos + n], expert_fn(first + j, grouped[pos : pos + n]))
        pos += n
    return y


def _combine_chunks(back, chunks, returns, order, where, weights):
    """On a GPU each chunk's tokens are combined as soon as its results are back (while later
    chunks travel); on the CPU, one combine at the end."""
    if not back.is_cuda:
        for w, _ in returns:
            w.wait()
        return sol.combine(back, order, weights)
    (T, k), weights = weights.shape, weights.contiguous()
    out = back.new_empty((T, back.shape[1]))  # (T, H)
    for ch, (w, _) in zip(chunks, returns):
        w.wait()
        lo, hi = ch.tokens
        if hi > lo:
            _combine_into(out[lo:hi], back, where[lo * k : hi * k], weights[lo:hi])
    return out


def _combine_into(out, back, where, weights) -> None:
    """The solution's combine kernel for tokens out's rows (where and weights sliced to them)."""
    n, k = weights.shape
    H = back.shape[1]
    block = min(1024, sol.triton.next_power_of_2(H))
    grid = (n, sol.triton.cdiv(H, block))
    sol._combine_kernel[grid](back, where, weights, out, H, K=k, BLOCK_H=block, num_warps=4)
