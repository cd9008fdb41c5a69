"""Kernel 2 of the Triton spec_decode solution (triton.py), and the stop-position search both
kernels share: after kernel 1 has written two sums per block of each row's p_n and q_n (of the
residual max(0, p - q) and of p), find the block where the running sum crosses u * total,
re-read only that block, finish the inverse CDF inside it and write the row's tokens and count.
Two ways to find the block: _sample_kernel walks the sums one by one, _sample_scan_kernel loads
them all and takes one tl.cumsum. Launched with programmatic dependent launch (PDL), a program
finds its row's stop position while kernel 1 still streams, then waits for the sums.
"""

from __future__ import annotations

import triton
import triton.language as tl

try:  # grid dependency control (PDL): Triton >= 3.4 on sm_90+; absent: Plan.pdl is ignored
    from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait
except ImportError:
    gdc_launch_dependents = gdc_wait = None


@triton.jit
def _stop_positions(tok_ptr, q_ptr, p_ptr, au_ptr, rows, row_ok, G, V, G_PAD: tl.constexpr):
    """[ROWS] drafts accepted before the first rejection: accept while u * q(x) < p(x)."""
    i = tl.arange(0, G_PAD)
    m = row_ok[:, None] & (i[None, :] < G)  # [ROWS, G_PAD]
    slot = rows[:, None] * G + i[None, :]  # (b, i) in the (B, G) tensors
    x = tl.load(tok_ptr + slot, mask=m, other=0)  # draft tokens
    q_x = tl.load(q_ptr + slot * V + x, mask=m, other=0.0)  # q_i(x_i): one gathered float
    p_x = tl.load(p_ptr + (slot + rows[:, None]) * V + x, mask=m, other=0.0)  # row b*(G+1) + i
    u = tl.load(au_ptr + slot, mask=m, other=0.0)
    rejected = m & ~(u * q_x < p_x)
    return tl.min(tl.where(rejected, i[None, :], G), axis=1)  # first rejection, G if none


@triton.jit
def _sample_kernel(
    tok_ptr,
    q_ptr,
    p_ptr,
    au_ptr,
    su_ptr,
    res_sums_ptr,
    p_sums_ptr,
    out_ptr,
    count_ptr,
    B,
    G,
    V,
    NB,
    SUMS_STRIDE,
    ROWS: tl.constexpr,
    G_PAD: tl.constexpr,
    BLOCK: tl.constexpr,
    PDL: tl.constexpr,
):
    # Program r owns rows [r*ROWS, (r+1)*ROWS): reads NB block sums and one block of p and q
    # per row, writes the row's G+1 tokens and its count.
    rows = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)
    row_ok = rows < B
    n = _stop_positions(tok_ptr, q_ptr, p_ptr, au_ptr, rows, row_ok, G, V, G_PAD)  # [ROWS]
    if PDL:
        gdc_wait()  # launched early: kernel 1's block sums are complete and visible after this
    # Totals of the residual and of p over the row's NB block sums (a few dozen floats).
    res_total = tl.zeros([ROWS], dtype=tl.float32)
    p_total = tl.zeros([ROWS], dtype=tl.float32)
    for b in range(0, NB):
        res_total += tl.load(res_sums_ptr + rows * SUMS_STRIDE + b, mask=row_ok, other=0.0)
        p_total += tl.load(p_sums_ptr + rows * SUMS_STRIDE + b, mask=row_ok, other=0.0)
    empty = res_total == 0.0  # [ROWS] p <= q everywhere: sample from p instead
    total = tl.where(empty, p_total, res_total)
    thr = tl.load(su_ptr + rows, mask=row_ok, other=0.0) * total  # [ROWS] u * total in fp32
    # Walk the block sums again: blk = the first block whose running sum passes thr, base = the
    # running sum before it. (A sequential loop; _sample_scan_kernel does it with one tl.cumsum.)
    running = tl.zeros([ROWS], dtype=tl.float32)
    base = tl.zeros([ROWS], dtype=tl.float32)
    blk = tl.zeros([ROWS], dtype=tl.int32)
    for b in range(0, NB):
        at = rows * SUMS_STRIDE + b
        res_b = tl.load(res_sums_ptr + at, mask=row_ok, other=0.0)
        p_b = tl.load(p_sums_ptr + at, mask=row_ok & empty, other=0.0)
        running += tl.where(empty, p_b, res_b)
        before = running <= thr
        blk += before.to(tl.int32)
        base = tl.where(before, running, base)
    _sample_in_block(
        tok_ptr, q_ptr, p_ptr, out_ptr, count_ptr, rows, row_ok, n, blk, base, thr, empty,
        G, V, G_PAD, BLOCK,
    )  # fmt: skip


@triton.jit
def _sample_scan_kernel(
    tok_ptr,
    q_ptr,
    p_ptr,
    au_ptr,
    su_ptr,
    res_sums_ptr,
    p_sums_ptr,
    out_ptr,
    count_ptr,
    B,
    G,
    V,
    NB,
    SUMS_STRIDE,
    ROWS: tl.constexpr,
    G_PAD: tl.constexpr,
    BLOCK: tl.constexpr,
    NB_PAD: tl.constexpr,
    PDL: tl.constexpr,
):
    # _sample_kernel with the walk over the block sums vectorised: one load of all NB sums per
    # row, one tl.cumsum, then the same single block re-read.
    rows = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)
    row_ok = rows < B
    n = _stop_positions(tok_ptr, q_ptr, p_ptr, au_ptr, rows, row_ok, G, V, G_PAD)  # [ROWS]
    u = tl.load(su_ptr + rows, mask=row_ok, other=0.0)  # [ROWS]
    if PDL:
        gdc_wait()  # launched early: kernel 1's block sums are complete and visible after this
    b = tl.arange(0, NB_PAD)[None, :]  # [1, NB_PAD] block index
    at = rows[:, None] * SUMS_STRIDE + b  # [ROWS, NB_PAD]
    ok = row_ok[:, None] & (b < NB)
    res_b = tl.load(res_sums_ptr + at, mask=ok, other=0.0)  # [ROWS, NB_PAD]
    empty = tl.max(res_b, axis=1) == 0.0  # [ROWS] sums of nonnegative terms: all zero
    # p's sums are loaded with the residual's, used only when empty: one L2 round trip, not two
    p_b = tl.load(p_sums_ptr + at, mask=ok, other=0.0)  # [ROWS, NB_PAD]
    inclusive = tl.cumsum(tl.where(empty[:, None], p_b, res_b), axis=1)  # [ROWS, NB_PAD]
    # total = the running sum at the last block, the very value the search compares with, so
    # the search always stops at or before that block (u < 1: u * total < total)
    total = tl.sum(tl.where(b == NB - 1, inclusive, 0.0), axis=1)  # [ROWS]
    thr = u * total  # [ROWS] u * total in fp32
    blk = tl.min(tl.where(inclusive > thr[:, None], b, NB_PAD), axis=1)  # first block past thr
    base = tl.sum(tl.where(b == blk[:, None] - 1, inclusive, 0.0), axis=1)  # running sum before
    _sample_in_block(
        tok_ptr, q_ptr, p_ptr, out_ptr, count_ptr, rows, row_ok, n, blk, base, thr, empty,
        G, V, G_PAD, BLOCK,
    )  # fmt: skip


@triton.jit
def _sample_in_block(
    tok_ptr, q_ptr, p_ptr, out_ptr, count_ptr, rows, row_ok, n, blk, base, thr, empty,
    G, V, G_PAD: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """Re-read block blk of each row, finish the inverse CDF inside it (base = the running sum
    before the block), and write the row's tokens and count."""
    cols = tl.arange(0, BLOCK)
    c = blk[:, None] * BLOCK + cols[None, :]  # [ROWS, BLOCK]
    m = row_ok[:, None] & (c < V)
    p = tl.load(p_ptr + ((rows * (G + 1) + n) * V)[:, None] + c, mask=m, other=0.0)
    use_q = row_ok & (n < G) & ~empty
    q = tl.load(
        q_ptr + ((rows * G + tl.minimum(n, G - 1)) * V)[:, None] + c,
        mask=m & use_q[:, None],
        other=0.0,
    )
    w = tl.maximum(p - q, 0.0)  # [ROWS, BLOCK]
    # compare base + cumsum with thr, never cumsum with thr - base: the compiler may fuse
    # u * total - base into one FMA that skips the rounding of u * total the contract specifies
    cdf = base[:, None] + tl.cumsum(w, axis=1)  # [ROWS, BLOCK] running sum inside the block
    j = tl.sum((cdf <= thr[:, None]).to(tl.int32), axis=1)  # first index past thr
    # off the 2^-24 grid the block's own sum can round below thr: take its last token with mass
    last = tl.max(tl.where(w > 0.0, cols[None, :], -1), axis=1)
    token = (blk * BLOCK + tl.where(j < BLOCK, j, last)).to(tl.int64)  # [ROWS]
    # the output row: n accepted drafts, the sampled token, then -1
    i = tl.arange(0, G_PAD)[None, :]
    drafts = tl.load(tok_ptr + rows[:, None] * G + i, mask=row_ok[:, None] & (i < G), other=-1)
    out = tl.where(i < n[:, None], drafts, tl.where(i == n[:, None], token[:, None], -1))
    tl.store(out_ptr + rows[:, None] * (G + 1) + i, out, mask=row_ok[:, None] & (i <= G))
    tl.store(count_ptr + rows, (n + 1).to(tl.int64), mask=row_ok)
