"""Speculative-decoding verification in Triton: read only the p and q rows each batch row stops
at, once, in one kernel, and never synchronise with the host.

Idea: the stop position n of a row needs G gathered probabilities (a few bytes), so every program
recomputes it. The row's p_n and q_n are split over SPLIT programs (a 0.5 MB row per tensor at
V = 128256: one program per row would give 128 programs to 132 SMs, with too few bytes in
flight each); each program streams its BLOCK-wide pieces once and writes two sums per block: of
the residual max(0, p - q) and of p (the fallback when the residual has no mass). Then it bumps
the row's arrival counter; the last program of the row to arrive does the combine: one vector
load of the row's block sums, their running sum, the block where it passes u * total, a re-read
of just that block, and the inverse CDF inside it. Rows that accepted every draft read no q at
all (masked loads issue no memory traffic) and sample the bonus from p_G. The counters cost a
memset of B ints before the kernel; `Plan(fused=False)` runs the combine as a second kernel
instead (no counters, the stop positions found again).
Memory traffic: 8*B*V bytes for the p and q rows, plus B*G gathers per program, 2 sums per
block, and one re-read block per row. The CDF is summed block by block, a different order from
a sequential cumsum: on rows whose partial sums are exact (the tests' 2^-24 grid) the token is
identical; otherwise it can move only within rounding of a block boundary.
Limits: ROWS rows share a program when rows are short (small V), one row per program for a
large vocabulary. Interpreted on a CPU it is correct but slow.
Run it: `dojo check spec_decode --impl solution:triton`, on a GPU
`dojo bench spec_decode --impl solution:triton`; `scripts/gpu_spec_sweep.py` times the plans.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

TILE = 8192  # short rows (V < block) share a program up to ROWS * block = TILE elements


@dataclass(frozen=True, slots=True)
class Plan:
    """Launch knobs: vocabulary entries per block (the unit of the block sums and of the final
    re-read), blocks per load (one [sub, block] tile per tensor and step), blocks per program (a
    long row is split over cdiv(blocks, per_program) programs), warps, and whether the combine
    runs in the last-arriving program of each row (fused) or in a second kernel."""

    block: int
    sub: int
    per_program: int
    warps: int
    fused: bool

    def __post_init__(self):
        powers = all(k >= 1 and not k & (k - 1) for k in (self.block, self.sub))
        if not powers or self.per_program % self.sub or self.warps not in (1, 2, 4, 8, 16):
            raise ValueError(
                f"{self}: block and sub must be powers of two, per_program a multiple of sub, "
                "warps one of 1, 2, 4, 8, 16"
            )


# The launch plan verify uses (scripts/gpu_spec_sweep.py times the alternatives on an H200).
PLAN = Plan(block=2048, sub=1, per_program=8, warps=4, fused=True)


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
def _stop_rows(tok_ptr, q_ptr, p_ptr, au_ptr, B, G, V, ROWS: tl.constexpr, G_PAD: tl.constexpr):
    """This program's rows, their stop positions n, and pointers to their p_n and q_n rows."""
    rows = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)
    row_ok = rows < B
    n = _stop_positions(tok_ptr, q_ptr, p_ptr, au_ptr, rows, row_ok, G, V, G_PAD)  # [ROWS]
    p_row = p_ptr + (rows * (G + 1) + n) * V  # [ROWS] pointers to p_n
    q_row = q_ptr + (rows * G + tl.minimum(n, G - 1)) * V  # [ROWS] pointers to q_n
    use_q = row_ok & (n < G)  # all accepted: the bonus samples p_G, no q row exists
    return rows, row_ok, n, p_row, q_row, use_q


@triton.jit
def _block_sums(p_row, q_row, use_q, row_ok, res_sums_ptr, p_sums_ptr, rows, first, V, STRIDE,
                SUB: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    """Blocks first .. first + SUB - 1 of each row's p_n and q_n: read once, in one load per
    tensor SUB * BLOCK wide, and two sums written per block (zeros past the row's end)."""
    blk = first + tl.arange(0, SUB)  # [SUB]
    c = blk[:, None] * BLOCK + tl.arange(0, BLOCK)[None, :]  # [SUB, BLOCK] vocabulary indices
    m = row_ok[:, None, None] & (c[None] < V)  # [ROWS, SUB, BLOCK]
    p = tl.load(p_row[:, None, None] + c[None], mask=m, other=0.0)
    q = tl.load(q_row[:, None, None] + c[None], mask=m & use_q[:, None, None], other=0.0)
    at = rows[:, None] * STRIDE + blk[None, :]  # [ROWS, SUB]
    tl.store(res_sums_ptr + at, tl.sum(tl.maximum(p - q, 0.0), axis=2), mask=row_ok[:, None])
    tl.store(p_sums_ptr + at, tl.sum(p, axis=2), mask=row_ok[:, None])


@triton.jit
def _prefix(s, first, NB_PAD: tl.constexpr, KC: tl.constexpr):
    """[ROWS, KC] running sums of s [ROWS, NB_PAD] at blocks first .. first + KC - 1, as masked
    tree sums: the same tree for every block with zeros past it, so they never decrease (and
    take few registers: one [ROWS, KC, NB_PAD] chunk at a time, not the whole triangle)."""
    kk = first + tl.arange(0, KC)  # [KC]
    upto = kk[None, :, None] >= tl.arange(0, NB_PAD)[None, None, :]  # [1, KC, NB_PAD] j <= k
    return tl.sum(tl.where(upto, s[:, None, :], 0.0), axis=2), kk


@triton.jit
def _find_block(res_sums_ptr, p_sums_ptr, su_ptr, rows, row_ok, NB, STRIDE,
                NB_PAD: tl.constexpr):  # fmt: skip
    """From the [ROWS, NB] block sums: whether the residual is empty (sample p instead), the
    threshold u * total, the block where the running sum passes it, and the sum before that."""
    k = tl.arange(0, NB_PAD)
    at = rows[:, None] * STRIDE + k[None, :]  # [ROWS, NB_PAD] this row's block sums
    km = row_ok[:, None] & (k[None, :] < NB)
    # .cg: other programs wrote these sums; read them from L2, the coherence point
    res = tl.load(res_sums_ptr + at, mask=km, other=0.0, cache_modifier=".cg")
    ps = tl.load(p_sums_ptr + at, mask=km, other=0.0, cache_modifier=".cg")
    empty = tl.sum(res, axis=1) == 0.0  # [ROWS] p <= q everywhere: sample from p instead
    s = tl.where(empty[:, None], ps, res)  # [ROWS, NB_PAD]
    # Running sums, not tl.cumsum: Triton 3.6 fails to lower a scan over a few-element axis.
    KC: tl.constexpr = NB_PAD if NB_PAD < 16 else 16
    last, _ = _prefix(s, NB_PAD - KC, NB_PAD, KC)
    total = tl.max(last, axis=1)  # the last running sum, rounded as the others are
    thr = tl.load(su_ptr + rows, mask=row_ok, other=0.0) * total  # [ROWS] u * total in fp32
    blk = tl.zeros_like(thr).to(tl.int32)  # blocks whose running sum is <= thr: the ones before
    base = tl.zeros_like(thr)  # the largest running sum <= thr: the sum before the block
    for first in tl.static_range(0, NB_PAD, KC):
        pre, kk = _prefix(s, first, NB_PAD, KC)  # [ROWS, KC]
        below = pre <= thr[:, None]
        blk += tl.sum(below.to(tl.int32), axis=1)
        # up to block NB - 2: u * total can round up to total, then the last block is taken
        base = tl.maximum(base, tl.max(tl.where(below & (kk < NB - 1), pre, 0.0), axis=1))
    return empty, thr, tl.minimum(blk, NB - 1), base


@triton.jit
def _sample(p_row, q_row, use_q, res_sums_ptr, p_sums_ptr, su_ptr, rows, row_ok, V, NB, STRIDE,
            NB_PAD: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    """[ROWS] tokens: the first j whose running sum of the weights passes u * total, found in
    the one block _find_block names, re-read from p_n and q_n."""
    empty, thr, blk, base = _find_block(res_sums_ptr, p_sums_ptr, su_ptr, rows, row_ok, NB,
                                        STRIDE, NB_PAD)  # fmt: skip
    cols = tl.arange(0, BLOCK)
    c = blk[:, None] * BLOCK + cols[None, :]  # [ROWS, BLOCK]
    m = row_ok[:, None] & (c < V)
    p = tl.load(p_row[:, None] + c, mask=m, other=0.0)
    q = tl.load(q_row[:, None] + c, mask=m & (use_q & ~empty)[:, None], other=0.0)
    w = tl.maximum(p - q, 0.0)  # [ROWS, BLOCK]
    # compare base + cumsum with thr, never cumsum with thr - base: the compiler may fuse
    # u * total - base into one FMA that skips the rounding of u * total the contract specifies
    cdf = base[:, None] + tl.cumsum(w, axis=1)  # [ROWS, BLOCK] running sum inside the block
    j = tl.sum((cdf <= thr[:, None]).to(tl.int32), axis=1)  # first index past thr
    # off the 2^-24 grid the block's own sum can round below thr: take its last token with mass
    last = tl.max(tl.where(w > 0.0, cols[None, :], -1), axis=1)
    return (blk * BLOCK + tl.where(j < BLOCK, j, last)).to(tl.int64)  # [ROWS]


@triton.jit
def _emit(tok_ptr, out_ptr, count_ptr, rows, row_ok, n, token, G, G_PAD: tl.constexpr):
    """The output rows: n accepted drafts, the sampled token, then -1; counts n + 1."""
    i = tl.arange(0, G_PAD)[None, :]
    drafts = tl.load(tok_ptr + rows[:, None] * G + i, mask=row_ok[:, None] & (i < G), other=-1)
    out = tl.where(i < n[:, None], drafts, tl.where(i == n[:, None], token[:, None], -1))
    tl.store(out_ptr + rows[:, None] * (G + 1) + i, out, mask=row_ok[:, None] & (i <= G))
    tl.store(count_ptr + rows, (n + 1).to(tl.int64), mask=row_ok)


@triton.jit
def _verify_kernel(tok_ptr, q_ptr, p_ptr, au_ptr, su_ptr, res_sums_ptr, p_sums_ptr, arrived_ptr,
                   out_ptr, count_ptr, B, G, V, NB, STRIDE, ROWS: tl.constexpr,
                   G_PAD: tl.constexpr, NB_PAD: tl.constexpr, BLOCK: tl.constexpr,
                   SUB: tl.constexpr, PER_PROGRAM: tl.constexpr, SPLIT: tl.constexpr,
                   COMBINE: tl.constexpr):  # fmt: skip
    # Program (r, s) owns rows [r*ROWS, (r+1)*ROWS) and blocks [s*PER_PROGRAM, ...) of each
    # row's stop-position p and q rows: reads those blocks once, writes 2 floats per block. With
    # COMBINE, the last of the SPLIT programs of a row group to finish also samples its tokens.
    rows, row_ok, n, p_row, q_row, use_q = _stop_rows(tok_ptr, q_ptr, p_ptr, au_ptr, B, G, V,
                                                      ROWS, G_PAD)  # fmt: skip
    for k in range(0, PER_PROGRAM, SUB):
        _block_sums(p_row, q_row, use_q, row_ok, res_sums_ptr, p_sums_ptr, rows,
                    tl.program_id(1) * PER_PROGRAM + k, V, STRIDE, SUB, BLOCK)  # fmt: skip
    if COMBINE:
        last = True
        if SPLIT > 1:
            tl.debug_barrier()  # every thread's sums stored before the release below
            last = tl.atomic_add(arrived_ptr + tl.program_id(0), 1, sem="acq_rel") == SPLIT - 1
        if last:
            tl.debug_barrier()  # no thread reads the sums before the acquire above
            token = _sample(p_row, q_row, use_q, res_sums_ptr, p_sums_ptr, su_ptr, rows, row_ok,
                            V, NB, STRIDE, NB_PAD, BLOCK)  # fmt: skip
            _emit(tok_ptr, out_ptr, count_ptr, rows, row_ok, n, token, G, G_PAD)


@triton.jit
def _combine_kernel(tok_ptr, q_ptr, p_ptr, au_ptr, su_ptr, res_sums_ptr, p_sums_ptr, out_ptr,
                    count_ptr, B, G, V, NB, STRIDE, ROWS: tl.constexpr, G_PAD: tl.constexpr,
                    NB_PAD: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    # Plan(fused=False): program r samples rows [r*ROWS, (r+1)*ROWS) from the block sums.
    rows, row_ok, n, p_row, q_row, use_q = _stop_rows(tok_ptr, q_ptr, p_ptr, au_ptr, B, G, V,
                                                      ROWS, G_PAD)  # fmt: skip
    token = _sample(p_row, q_row, use_q, res_sums_ptr, p_sums_ptr, su_ptr, rows, row_ok, V, NB,
                    STRIDE, NB_PAD, BLOCK)  # fmt: skip
    _emit(tok_ptr, out_ptr, count_ptr, rows, row_ok, n, token, G, G_PAD)


def verify(
    draft_tokens: torch.Tensor,
    draft_probs: torch.Tensor,
    target_probs: torch.Tensor,
    accept_u: torch.Tensor,
    sample_u: torch.Tensor,
    plan: Plan | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    plan = plan or PLAN
    B, G = draft_tokens.shape
    V = target_probs.shape[-1]
    assert G >= 1 and draft_probs.shape == (B, G, V) and target_probs.shape == (B, G + 1, V)
    args = [t.contiguous() for t in (draft_tokens, draft_probs, target_probs, accept_u, sample_u)]
    block = min(plan.block, triton.next_power_of_2(V))
    rows = 1 if block == plan.block else TILE // block  # short rows share a program
    sub = plan.sub if rows == 1 else 1
    nb = triton.cdiv(V, block)  # blocks per row
    per_program = min(plan.per_program, triton.cdiv(nb, sub) * sub)  # a multiple of sub
    grid = (triton.cdiv(B, rows), triton.cdiv(nb, per_program))  # (row groups, split)
    stride = grid[1] * per_program  # NB rounded up: every program stores all its blocks
    dev = draft_probs.device
    res_sums = torch.empty(B, stride, dtype=torch.float32, device=dev)  # (B, NB padded)
    p_sums = torch.empty(B, stride, dtype=torch.float32, device=dev)  # (B, NB padded)
    tokens = torch.empty(B, G + 1, dtype=torch.int64, device=dev)  # (B, G+1)
    counts = torch.empty(B, dtype=torch.int64, device=dev)  # (B,)
    fused = plan.fused or grid[1] == 1  # one program per row group: it is always the last
    counted = fused and grid[1] > 1  # arrival counters start at zero: one small memset
    arrived = (torch.zeros if counted else torch.empty)(grid[0], dtype=torch.int32, device=dev)
    sizes = dict(G_PAD=triton.next_power_of_2(G + 1), NB_PAD=triton.next_power_of_2(stride))
    warps = plan.warps if rows == 1 else 8
    outs = (tokens, counts, B, G, V, nb, stride)
    _verify_kernel[grid](*args, res_sums, p_sums, arrived, *outs, ROWS=rows, BLOCK=block, SUB=sub,
                         PER_PROGRAM=per_program, SPLIT=grid[1], COMBINE=fused,
                         num_warps=warps, **sizes)  # fmt: skip
    if not fused:
        _combine_kernel[(grid[0],)](*args, res_sums, p_sums, *outs, ROWS=rows, BLOCK=block,
                                    num_warps=warps, **sizes)  # fmt: skip
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
