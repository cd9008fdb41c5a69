"""Speculative-decoding verification in Triton: read only the p and q rows each batch row stops
at, once, and never synchronise with the host.

Idea: the stop position n of a row needs G gathered probabilities (a few bytes), so every program
recomputes it. Kernel 1 then streams the row's p_n and q_n in BLOCK-wide pieces, split over
several programs, and writes two sums per block: of the residual max(0, p - q) and of p (the
fallback when the residual has no mass). Kernel 2 (_sample.py) scans those per-block sums (a
few hundred floats), finds the block where the running sum crosses u * total, re-reads just
that block, and finishes the inverse CDF there. Rows that accepted every draft read no q at all
(masked loads issue no memory traffic) and sample the bonus from p_G.
Memory traffic: 8*B*V bytes for the p and q rows, plus B*G gathers, 2 per-block sums, and one
re-read block per row (usually still in L2). The CDF is summed block by block, a different
order from a sequential cumsum: on rows whose partial sums are exact (the tests' 2^-24 grid)
the token is identical; otherwise it can move only within rounding of a block boundary.
Launch: a Plan (block size, blocks per program, warps, kernel 2's walk as one tl.cumsum,
kernel 2 launched early by programmatic dependent launch, kernel 1's loads prefetched or
pipelined); PLAN is the one verify() uses, scripts/gpu_spec_sweep.py times the others on a GPU.
Limits: ROWS rows share a program when rows are short (small V), one row per program for a
large vocabulary. Interpreted on a CPU it is correct but slow.
Run it: `dojo check spec_decode --impl solution:triton`, on a GPU
`dojo bench spec_decode --impl solution:triton`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from grader.runtime.device import programmatic_launch
from solutions.spec_decode._sample import (
    _sample_kernel,
    _sample_scan_kernel,
    _stop_positions,
    gdc_launch_dependents,
)

TILE = 8192  # short rows (V < block) share a program up to ROWS * BLOCK = TILE elements
SAMPLERS = ("loop", "scan")
EVICTIONS = ("", "evict_first", "evict_last")


@dataclass(frozen=True, slots=True)
class Plan:
    """How the two kernels are launched; PLAN is what verify() uses. Every plan gives the same
    tokens on the tests' exact grid (scripts/gpu_spec_sweep.py times them on a GPU)."""

    block: int = 2048  # vocabulary elements per block: one row per program streams these
    per_program: int = 8  # kernel 1: at most this many blocks of a row per program
    warps: int = 0  # kernel 1's warps; 0: 4, or 8 when short rows share a program
    sample_warps: int = 0  # kernel 2's warps; 0: as kernel 1's default
    sampler: str = "loop"  # kernel 2 walks the block sums: "loop" one by one, "scan" tl.cumsum
    pdl: bool = False  # launch kernel 2 early (programmatic dependent launch, sm_90+ only)
    prefetch: bool = False  # kernel 1 loads block k+1 before it sums block k
    stages: int = 0  # > 0: kernel 1's loop pipelined by Triton over this many stages
    evict: str = ""  # kernel 1's cache hint for the streamed rows (read once)

    def __post_init__(self):
        if self.block < 16 or self.block & (self.block - 1):
            raise ValueError(f"Plan.block must be a power of two >= 16, got {self.block}")
        if self.per_program < 1 or min(self.warps, self.sample_warps, self.stages) < 0:
            raise ValueError("Plan.per_program must be >= 1, the warps and stages >= 0")
        if self.prefetch and self.stages:
            raise ValueError("Plan.prefetch and Plan.stages are two ways to one end: pick one")
        if self.sampler not in SAMPLERS or self.evict not in EVICTIONS:
            raise ValueError(f"Plan.sampler must be one of {SAMPLERS}, evict one of {EVICTIONS}")


# The H200 sweep's best (results/h200_spec_sweep2.json): 44.6 us, 0.694 of copy, against the
# plain Plan()'s 50.4 us (0.614) in the same run: kernel 1 36.0 us (was 40.2), kernel 2 10.1 us
# but launched early, so most of it hides behind kernel 1's tail.
PLAN = Plan(sampler="scan", pdl=True, prefetch=True, evict="evict_first")


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
    PREFETCH: tl.constexpr,
    STAGES: tl.constexpr,
    EVICT: tl.constexpr,
    PDL: tl.constexpr,
):
    # Program (r, s) owns rows [r*ROWS, (r+1)*ROWS) and blocks [s*PER_PROGRAM, ...) of each
    # row's stop-position p and q rows: reads those blocks once, writes 2 floats per block.
    # Blocks past the row's end load nothing and store zeros into the sums' padding.
    if PDL:
        gdc_launch_dependents()  # kernel 2 may start its prologue; it waits for these sums
    rows = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)
    row_ok = rows < B
    n = _stop_positions(tok_ptr, q_ptr, p_ptr, au_ptr, rows, row_ok, G, V, G_PAD)  # [ROWS]
    p_row = p_ptr + (rows * (G + 1) + n) * V  # [ROWS] pointers to p_n
    q_row = q_ptr + (rows * G + tl.minimum(n, G - 1)) * V  # [ROWS] pointers to q_n
    use_q = row_ok & (n < G)  # all accepted: the bonus samples p_G, no q row exists
    first = tl.program_id(1) * PER_PROGRAM
    if PREFETCH:  # block k+1 is in flight while block k is summed (twice the registers)
        p, q = _load_block(p_row, q_row, row_ok, use_q, first, V, BLOCK, EVICT)
        for k in range(PER_PROGRAM):
            live = row_ok & (k + 1 < PER_PROGRAM)  # [ROWS] the last step loads nothing
            p_next, q_next = _load_block(p_row, q_row, live, use_q, first + k + 1, V, BLOCK, EVICT)
            _store_sums(res_sums_ptr, p_sums_ptr, p, q, rows, row_ok, first + k, SUMS_STRIDE)
            p, q = p_next, q_next
    elif STAGES > 0:  # Triton's pipeliner: cp.async into STAGES shared-memory buffers
        for k in tl.range(PER_PROGRAM, num_stages=STAGES):
            p, q = _load_block(p_row, q_row, row_ok, use_q, first + k, V, BLOCK, EVICT)
            _store_sums(res_sums_ptr, p_sums_ptr, p, q, rows, row_ok, first + k, SUMS_STRIDE)
    else:
        for k in range(PER_PROGRAM):
            p, q = _load_block(p_row, q_row, row_ok, use_q, first + k, V, BLOCK, EVICT)
            _store_sums(res_sums_ptr, p_sums_ptr, p, q, rows, row_ok, first + k, SUMS_STRIDE)


@triton.jit
def _load_block(p_row, q_row, ok, use_q, blk, V, BLOCK: tl.constexpr, EVICT: tl.constexpr):
    """[ROWS, BLOCK] p and q of block blk of the rows where ok (zeros where masked)."""
    c = blk * BLOCK + tl.arange(0, BLOCK)  # [BLOCK] vocabulary indices
    m = ok[:, None] & (c[None, :] < V)  # [ROWS, BLOCK]
    p = tl.load(p_row[:, None] + c[None, :], mask=m, other=0.0, eviction_policy=EVICT)
    q = tl.load(
        q_row[:, None] + c[None, :], mask=m & use_q[:, None], other=0.0, eviction_policy=EVICT
    )
    return p, q


@triton.jit
def _store_sums(res_sums_ptr, p_sums_ptr, p, q, rows, row_ok, blk, SUMS_STRIDE):
    """Block blk's sums of the residual max(0, p - q) and of p, one float each per row."""
    at = rows * SUMS_STRIDE + blk
    tl.store(res_sums_ptr + at, tl.sum(tl.maximum(p - q, 0.0), axis=1), mask=row_ok)
    tl.store(p_sums_ptr + at, tl.sum(p, axis=1), mask=row_ok)


def verify(
    draft_tokens: torch.Tensor,
    draft_probs: torch.Tensor,
    target_probs: torch.Tensor,
    accept_u: torch.Tensor,
    sample_u: torch.Tensor,
    plan: Plan = PLAN,
) -> tuple[torch.Tensor, torch.Tensor]:
    B, G = draft_tokens.shape
    V = target_probs.shape[-1]
    assert G >= 1 and draft_probs.shape == (B, G, V) and target_probs.shape == (B, G + 1, V)
    args = [t.contiguous() for t in (draft_tokens, draft_probs, target_probs, accept_u)]
    block = min(plan.block, triton.next_power_of_2(V))
    rows = 1 if block == plan.block else TILE // block  # short rows share a program
    warps = 4 if rows * block <= plan.block else 8
    nb = triton.cdiv(V, block)  # blocks per row
    dev = draft_probs.device
    per_program = min(nb, plan.per_program)
    split = triton.cdiv(nb, per_program)  # programs per row in kernel 1
    stride = split * per_program  # NB rounded up: every program stores all its blocks
    res_sums = torch.empty(B, stride, dtype=torch.float32, device=dev)  # (B, NB padded)
    p_sums = torch.empty(B, stride, dtype=torch.float32, device=dev)  # (B, NB padded)
    tokens = torch.empty(B, G + 1, dtype=torch.int64, device=dev)  # (B, G+1)
    counts = torch.empty(B, dtype=torch.int64, device=dev)  # (B,)
    g_pad = triton.next_power_of_2(G + 1)
    pdl = plan.pdl and programmatic_launch(dev)
    grid = (triton.cdiv(B, rows), split)
    _block_sums_kernel[grid](
        *args, res_sums, p_sums, B, G, V, stride,
        ROWS=rows, G_PAD=g_pad, BLOCK=block, PER_PROGRAM=per_program,
        PREFETCH=plan.prefetch, STAGES=plan.stages, EVICT=plan.evict, PDL=pdl,
        num_warps=plan.warps or warps,
    )  # fmt: skip
    sampler, shape, warps = _sample_kernel, {}, plan.sample_warps or warps
    if plan.sampler == "scan" and rows == 1:  # (short rows have one block: nothing to scan)
        # at least one sum per thread: a narrower scan compiled to 3x the registers (Triton 3.6)
        sampler, shape = (
            _sample_scan_kernel,
            {"NB_PAD": max(32 * warps, triton.next_power_of_2(nb))},
        )
    sampler[(grid[0],)](
        *args, sample_u.contiguous(), res_sums, p_sums, tokens, counts, B, G, V, nb, stride,
        ROWS=rows, G_PAD=g_pad, BLOCK=block, PDL=pdl, **shape,
        num_warps=warps, **({"launch_pdl": True} if pdl else {}),
    )  # fmt: skip
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
