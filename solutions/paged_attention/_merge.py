"""Phase 2 of the paged decode attention solution (solutions/paged_attention/triton.py): merging
each head's per-split partials (m, den, acc) with their maxes,
  M = max_s m_s, out = sum_s exp(m_s - M) acc_s / sum_s exp(m_s - M) den_s,
either in a second kernel, one program per (sequence, query head), or (Plan.fuse) in the last
phase-1 program of each (sequence, KV head tile) to finish, which an arrival counter names."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

try:  # grid dependency control (PDL): Triton >= 3.4 on sm_90+; absent: the combine waits plainly
    from triton.language.extra.cuda import gdc_wait
except ImportError:  # pragma: no cover - older Triton
    gdc_wait = None


@triton.jit
def _split_weight(m_split, m_max):
    # A partial summed against its own max m_split counts exp2(m_split - m_max) at the common max.
    return tl.exp2(m_split - m_max)


@triton.jit
def _combine_kernel(
    m_ptr, den_ptr, acc_ptr, lens_ptr, out_ptr, HQ, SPLITS, chunk, out_stride_b, out_stride_h,
    D: tl.constexpr, SPLITS_POW2: tl.constexpr, SPLIT_BLOCK: tl.constexpr, PDL: tl.constexpr,
    SPLIT_WEIGHT: tl.constexpr,  # @triton.jit _split_weight
):  # fmt: skip
    # Program (b, h): merges the partials (b, h, :) of the splits that hold keys, writes out[b, h].
    # Reads SPLIT_BLOCK partials per step: a loop of one load per split would be latency-bound.
    b, h = tl.program_id(0), tl.program_id(1)
    if PDL:
        gdc_wait()  # launched early: phase 1's partials are complete and visible after this
    used = tl.cdiv(tl.load(lens_ptr + b), chunk)  # splits that hold at least one key
    out = out_ptr + b.to(tl.int64) * out_stride_b + h * out_stride_h
    _merge_row(m_ptr, den_ptr, acc_ptr, out, (b * HQ + h) * SPLITS, used, D, SPLITS_POW2,
               SPLIT_BLOCK, SPLIT_WEIGHT, "")  # fmt: skip


@triton.jit
def _merge_row(
    m_ptr, den_ptr, acc_ptr, out, row, used, D: tl.constexpr, SPLITS_POW2: tl.constexpr,
    SPLIT_BLOCK: tl.constexpr, SPLIT_WEIGHT: tl.constexpr, CACHE: tl.constexpr,
):  # fmt: skip
    # Merges the partial rows row .. row + used - 1 of one head into out[0:D]. Reads
    # SPLIT_BLOCK partials per step: a loop of one load per split would be latency-bound.
    s = tl.arange(0, SPLITS_POW2)
    m = tl.load(m_ptr + row + s, mask=s < used, other=float("-inf"), cache_modifier=CACHE)
    m_max = tl.max(m, axis=0)
    d = tl.arange(0, D)
    num = tl.zeros((D,), tl.float32)
    den = tl.zeros((SPLIT_BLOCK,), tl.float32)
    for first in range(0, used, SPLIT_BLOCK):
        i = first + tl.arange(0, SPLIT_BLOCK)
        ok = i < used
        m_i = tl.load(m_ptr + row + i, mask=ok, other=float("-inf"), cache_modifier=CACHE)
        w = tl.where(ok, SPLIT_WEIGHT(m_i, m_max), 0.0)  # (SPLIT_BLOCK,)
        acc = tl.load(acc_ptr + (row + i)[:, None] * D + d[None, :], mask=ok[:, None],
                      other=0.0, cache_modifier=CACHE)  # fmt: skip
        num += tl.sum(w[:, None] * acc, axis=0)  # (D,)
        den += w * tl.load(den_ptr + row + i, mask=ok, other=0.0, cache_modifier=CACHE)
    tl.store(out + d, (num / tl.sum(den, axis=0)).to(out.dtype.element_ty))


@triton.jit
def _merge_heads(
    m_ptr, den_ptr, acc_ptr, out_ptr, b, heads, head_ok, out_stride_b, out_stride_h, HQ, SPLITS,
    used, BLOCK_G: tl.constexpr, D: tl.constexpr, SPLITS_POW2: tl.constexpr,
    SPLIT_BLOCK: tl.constexpr, SPLIT_WEIGHT: tl.constexpr,
):  # fmt: skip
    # The fused path's merge: each live head of the (BLOCK_G,) vector in turn, through the
    # combine kernel's _merge_row, reading the other programs' partials from L2 (".cg").
    g = tl.arange(0, BLOCK_G)
    for i in range(0, BLOCK_G):
        h = tl.sum(tl.where(g == i, heads, 0), axis=0)
        if tl.sum(tl.where((g == i) & head_ok, 1, 0), axis=0) > 0:
            out = out_ptr + b.to(tl.int64) * out_stride_b + h * out_stride_h
            _merge_row(m_ptr, den_ptr, acc_ptr, out, (b * HQ + h) * SPLITS, used, D,
                       SPLITS_POW2, SPLIT_BLOCK, SPLIT_WEIGHT, ".cg")  # fmt: skip


_LOCKS: dict[torch.device, torch.Tensor] = {}


def _locks(device: torch.device, n: int) -> torch.Tensor:
    """The fused path's arrival counters, one per (sequence, KV head tile): zero between calls
    (the merging program resets its own), kept per device. Calls on one device must not run
    concurrently on two streams; allocate them (run once) before a CUDA graph is captured."""
    have = _LOCKS.get(device)
    if have is None or have.numel() < n:
        _LOCKS[device] = have = torch.zeros(max(n, 1024), dtype=torch.int32, device=device)
    return have
