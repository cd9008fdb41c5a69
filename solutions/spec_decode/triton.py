"""Speculative-decoding verification in Triton: read only the p and q rows each batch row stops
at, once, and never synchronise with the host.

Idea: the stop position n of a row needs G gathered probabilities (a few bytes), so every program
recomputes it. Kernel 1 then streams the row's p_n and q_n in BLOCK-wide pieces, split over
several programs, and writes two sums per block: of the residual max(0, p - q) and of p (the
fallback when the residual has no mass). Kernel 2 scans those per-block sums (a few hundred
floats), finds the block where the running sum crosses u * total, re-reads just that block,
and finishes the inverse CDF there. Rows that accepted every draft read no q at all (masked
loads issue no memory traffic) and sample the bonus from p_G.
Memory traffic: 8*B*V bytes for the p and q rows, plus B*G gathers, 2 per-block sums, and one
re-read block per row (usually still in L2). The CDF is summed block by block, a different
order from a sequential cumsum: on rows whose partial sums are exact (the tests' 2^-24 grid)
the token is identical; otherwise it can move only within rounding of a block boundary.
Limits: ROWS rows share a program when rows are short (small V), one row per program for a
large vocabulary. Interpreted on a CPU it is correct but slow.
Run it: `dojo check spec_decode --impl solution:triton`, on a GPU
`dojo bench spec_decode --impl solution:triton`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

MAX_BLOCK = 2048  # vocabulary elements per block: one row per program streams these
TILE = 8192  # short rows (V < MAX_BLOCK) share a program up to ROWS * BLOCK = TILE elements
BLOCKS_PER_PROGRAM = 8  # kernel 1: at most this many blocks of a row per program


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
def _block_sums_kernel(
    tok_ptr,
    q_ptr,
    p_ptr,
    au_ptr,
    res_sums_ptr,
    p_sums_ptr,
    B,
    G,
    V,
    SUMS_STRIDE,
    ROWS: tl.constexpr,
    G_PAD: tl.constexpr,
    BLOCK: tl.constexpr,
    PER_PROGRAM: tl.constexpr,
):
    # Program (r, s) owns rows [r*ROWS, (r+1)*ROWS) and blocks [s*PER_PROGRAM, ...) of each
    # row's stop-position p and q rows: reads those blocks once, writes 2 floats per block.
    # Blocks past the row's end load nothing and store zeros into the sums' padding.
    rows = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)
    row_ok = rows < B
    n = _stop_positions(tok_ptr, q_ptr, p_ptr, au_ptr, rows, row_ok, G, V, G_PAD)  # [ROWS]
    p_row = p_ptr + (rows * (G + 1) + n) * V  # [ROWS] pointers to p_n
    q_row = q_ptr + (rows * G + tl.minimum(n, G - 1)) * V  # [ROWS] pointers to q_n
    use_q = row_ok & (n < G)  # all accepted: the bonus samples p_G, no q row exists
    cols = tl.arange(0, BLOCK)
    for k in range(PER_PROGRAM):
        blk = tl.program_id(1) * PER_PROGRAM + k
        c = blk * BLOCK + cols  # [BLOCK] vocabulary indices
        m = row_ok[:, None] & (c[None, :] < V)  # [ROWS, BLOCK]
        p = tl.load(p_row[:, None] + c[None, :], mask=m, other=0.0)
        q = tl.load(q_row[:, None] + c[None, :], mask=m & use_q[:, None], other=0.0)
        at = rows * SUMS_STRIDE + blk
        tl.store(res_sums_ptr + at, tl.sum(tl.maximum(p - q, 0.0), axis=1), mask=row_ok)
        tl.store(p_sums_ptr + at, tl.sum(p, axis=1), mask=row_ok)


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
):
    # Program r owns rows [r*ROWS, (r+1)*ROWS): reads NB block sums and one block of p and q
    # per row, writes the row's G+1 tokens and its count.
    rows = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)
    row_ok = rows < B
    n = _stop_positions(tok_ptr, q_ptr, p_ptr, au_ptr, rows, row_ok, G, V, G_PAD)  # [ROWS]
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
    # running sum before it. (A sequential loop, not tl.cumsum: Triton 3.6 fails to lower a
    # scan over a few-element axis, and NB is small.)
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
    # re-read that one block and finish the inverse CDF inside it
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


def verify(
    draft_tokens: torch.Tensor,
    draft_probs: torch.Tensor,
    target_probs: torch.Tensor,
    accept_u: torch.Tensor,
    sample_u: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    B, G = draft_tokens.shape
    V = target_probs.shape[-1]
    assert G >= 1 and draft_probs.shape == (B, G, V) and target_probs.shape == (B, G + 1, V)
    args = [t.contiguous() for t in (draft_tokens, draft_probs, target_probs, accept_u)]
    block = min(MAX_BLOCK, triton.next_power_of_2(V))
    rows = 1 if block == MAX_BLOCK else TILE // block  # short rows share a program
    warps = 4 if rows * block <= MAX_BLOCK else 8
    nb = triton.cdiv(V, block)  # blocks per row
    dev = draft_probs.device
    per_program = min(nb, BLOCKS_PER_PROGRAM)
    split = triton.cdiv(nb, per_program)  # programs per row in kernel 1
    stride = split * per_program  # NB rounded up: every program stores all its blocks
    res_sums = torch.empty(B, stride, dtype=torch.float32, device=dev)  # (B, NB padded)
    p_sums = torch.empty(B, stride, dtype=torch.float32, device=dev)  # (B, NB padded)
    tokens = torch.empty(B, G + 1, dtype=torch.int64, device=dev)  # (B, G+1)
    counts = torch.empty(B, dtype=torch.int64, device=dev)  # (B,)
    g_pad = triton.next_power_of_2(G + 1)
    grid = (triton.cdiv(B, rows), split)
    _block_sums_kernel[grid](
        *args,
        res_sums,
        p_sums,
        B,
        G,
        V,
        stride,
        ROWS=rows,
        G_PAD=g_pad,
        BLOCK=block,
        PER_PROGRAM=per_program,
        num_warps=warps,
    )
    _sample_kernel[(grid[0],)](
        *args,
        sample_u.contiguous(),
        res_sums,
        p_sums,
        tokens,
        counts,
        B,
        G,
        V,
        nb,
        stride,
        ROWS=rows,
        G_PAD=g_pad,
        BLOCK=block,
        num_warps=warps,
    )
    return tokens, counts


def verify_greedy(
    draft_tokens: torch.Tensor, target_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy needs one argmax per position: torch.argmax already reads each logit once."""
    B, G = draft_tokens.shape
    best = target_logits.argmax(dim=-1)  # (B, G+1) first index on ties
    n = (draft_tokens == best[:, :G]).to(torch.int64).cumprod(dim=1).sum(dim=1)  # (B,)
    pos = torch.arange(G + 1, device=n.device)  # (G+1,)
    padded = torch.nn.functional.pad(draft_tokens, (0, 1), value=-1)  # (B, G+1)
    tokens = torch.where(pos < n.unsqueeze(1), padded, -1)
    tokens.scatter_(1, n.unsqueeze(1), best.gather(1, n.unsqueeze(1)))
    return tokens, n + 1
