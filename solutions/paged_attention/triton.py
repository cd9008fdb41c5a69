"""Paged decode attention in Triton, flash-decoding style: each sequence's keys are split across
programs that keep a running max and sum, and a second kernel merges the partial results.

Idea. One query token per sequence attends to seq_lens[b] keys stored in pages of S slots. The
work is reading K and V: each key serves the G = Hq / Hkv query heads of its KV head, so
  phase 1 (`_split_kernel`), grid (B, Hkv * head tiles, splits): a program owns one sequence,
    one KV head with (up to BLOCK_G of) the query heads that read it, and one chunk of `chunk`
    keys (a runtime argument: a new length must not mean a new compile). It walks the chunk
    BLOCK_N tokens at a time: token t lives in page block_tables[b, t // S], slot t % S, so
    pages may sit anywhere in the pool, in any order, shared with other sequences. Each K/V
    tile is loaded once and serves every query head of the group (q @ K^T and p @ V are tl.dot
    on a (BLOCK_G, D) tile of query heads). It keeps, per query head, the running max m, the
    running sum den of exp(s - m) and the running sum acc of exp(s - m) * v, rescaling den
    and acc by exp(m_old - m_new) when the max grows (the online softmax), and writes the
    unnormalised partial (m, den, acc).
  phase 2 (`_combine_kernel`), grid (B, Hq): merges the partials of one head with their maxes:
    M = max_s m_s, out = sum_s exp(m_s - M) acc_s / sum_s exp(m_s - M) den_s. On Hopper it is
    launched early (programmatic dependent launch) and waits in-kernel for phase 1, so the gap
    between the two kernels leaves the critical path (B = 1: 5 of 148 us went to the combine).
    Phase 2 lives in _merge.py, with Plan.fuse's alternative: the last phase-1 program of each
    KV head to finish (an arrival counter that resets itself) merges, and no kernel follows.
  When one split holds every key (short sequences, or a batch that fills the GPU without
  splitting), phase 1 writes acc / den itself and phase 2 does not run.
Why split. With one program per (sequence, KV head), B = 1 gives 8 programs for Llama-3-8B's
8 KV heads: 8 of 132 SMs stream 512 MiB while the rest idle. The wrapper picks the number of
splits so that B * Hkv * splits programs fill the GPU several times over, from the table width
(no device sync: the block table's width bounds every length), and caps a chunk at MAX_CHUNK
keys, so that a batch of mixed lengths becomes many equal pieces of work, not a few long tails.
Memory traffic: every attended K and V byte read once, q read and out written once, plus the
partials (Hq * D * 4 bytes per split, under 0.5% at the benchmark shapes).
Precision: scores and all sums in fp32. For half inputs p @ V runs on tensor cores with p
split into two half-precision parts (p = hi + lo), which keeps about 16 bits of p; casting p
to half once (2^-9 relative error in bf16) would use up a good part of the tolerance. fp32
inputs use IEEE dots (no TF32).
Offsets: a page index times the page size overflows int32 in a pool of over 2^31 elements
(4.3 GB of bf16), so page offsets are computed in int64.

Structure: the kernels call small @triton.jit helpers (`_split_bounds`, `_query_heads`,
`_token_rows`, `_online_update`, `_split_weight`), and `attend()` launches whichever kernels it
is given. The known-wrong variants (wrong_*.py) each rewrite one helper and rebuild the kernels
around it with `_variant.attention_with`, so they hold only their bug. `Plan` holds the launch
knobs that scripts/gpu_paged_attention.py sweeps.

Limits: D a power of two from 16 to 256; seq_lens[b] >= 1; tables int32.
Run it: `dojo check paged_attention --impl solution`, `dojo bench paged_attention --impl solution`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from grader.runtime.device import programmatic_launch
from solutions.paged_attention._merge import _combine_kernel, _locks, _merge_heads, _split_weight

try:  # grid dependency control (PDL): Triton >= 3.4 on sm_90+; absent: the combine waits plainly
    from triton.language.extra.cuda import gdc_launch_dependents
except ImportError:  # pragma: no cover - older Triton
    gdc_launch_dependents = None

LOG2E = 1.4426950408889634
PROGRAMS_PER_SM = 2  # phase-1 programs wanted per SM: enough loads in flight to hide latency
INTERPRETER_SMS = 4  # stand-in SM count off the GPU: long cases still take the split path
INTERPRETER_BLOCK_N = 256
MAX_CHUNK = 4096  # keys per phase-1 program at most
MAX_SPLITS = 128  # bounds the combine's loop and the partials buffer


@dataclass(frozen=True, slots=True)
class Plan:
    """Launch knobs of phase 1: tokens per tile, tokens per split (a multiple of the tile and of
    the page size), query heads per program, warps and pipeline stages."""

    block_n: int
    chunk: int
    block_g: int
    warps: int = 4
    stages: int = 2
    pdl: bool = True  # launch the combine early (programmatic dependent launch, sm_90+)
    fuse: bool = False  # the last split of each head merges (no second kernel); not yet measured

    def __post_init__(self):
        if self.chunk % self.block_n or self.block_n & (self.block_n - 1):
            raise ValueError(f"chunk {self.chunk} must be a multiple of block_n {self.block_n}")


def plan_for(q: torch.Tensor, k_cache: torch.Tensor, width: int) -> Plan:
    """Chunks short enough that B * Hkv * head tiles * splits programs fill the GPU
    PROGRAMS_PER_SM times over, and at most MAX_CHUNK keys long (equal-sized work per program
    evens out a batch of mixed lengths); width * S bounds every seq_len without a device sync."""
    B, Hq, D = q.shape
    S, Hkv = k_cache.shape[1], k_cache.shape[2]
    block_g = min(max(16, triton.next_power_of_2(Hq // Hkv)), 64)  # tl.dot needs 16 rows
    tiles = triton.cdiv(Hq // Hkv, block_g)
    # GPU: 128 tokens of K and of V (64 KiB at D = 128 in bf16) per step: the H200 sweep in
    # results/h200_paged_attention_peers.json found 128-token tiles and 4096-key chunks fastest
    # on all three bench cases. The interpreter pays per operation: bigger tiles there.
    block_n = (128 if D <= 128 else 64) if q.is_cuda else INTERPRETER_BLOCK_N
    sms = (
        torch.cuda.get_device_properties(q.device).multi_processor_count
        if q.is_cuda
        else INTERPRETER_SMS
    )
    longest = width * S
    want = triton.cdiv(PROGRAMS_PER_SM * sms, B * Hkv * tiles)  # splits per sequence
    chunk = max(min(triton.cdiv(longest, want), MAX_CHUNK), triton.cdiv(longest, MAX_SPLITS))
    step = max(block_n, S)  # chunks hold whole tiles and whole pages
    stages = (
        3 if B * Hkv * tiles >= sms else 2
    )  # deeper pipelines paid off once the batch fills the SMs
    warps = 4 if D <= 128 else 8
    return Plan(block_n, triton.cdiv(chunk, step) * step, block_g, warps=warps, stages=stages)


@triton.jit
def _split_bounds(seq_len, split, chunk, S: tl.constexpr):
    # The keys [start, end) of this split: every key of the sequence belongs to one split. The
    # page size S plays no part: the last page's slots past seq_len hold no keys of this sequence.
    start = split * chunk
    return start, tl.minimum(start + chunk, seq_len)


@triton.jit
def _query_heads(kv_head, tile, GROUP, HKV, BLOCK_G: tl.constexpr):
    # Query heads kv_head * GROUP + g share KV head kv_head (h // GROUP, the GQA mapping). HKV
    # plays no part: h % HKV is the tempting wrong mapping.
    g = tile * BLOCK_G + tl.arange(0, BLOCK_G)
    return kv_head * GROUP + g, g < GROUP


@triton.jit
def _token_rows(table_row_ptr, tok, valid, page_stride, slot_stride, S: tl.constexpr):
    # Element offset of token tok's row in the pool: page block_table[b, tok // S], slot tok % S.
    # int64: page * page_stride passes 2^31 in a pool of more than 2^31 elements.
    page = tl.load(table_row_ptr + tok // S, mask=valid, other=0).to(tl.int64)
    return page * page_stride + (tok % S) * slot_stride


@triton.jit
def _kv_tile(
    ptr, scales_ptr, rows, d, live, dtype: tl.constexpr, D: tl.constexpr, FP8: tl.constexpr
):
    # The (BLOCK_N, D) keys or values at rows. FP8 (the engine's KV cache): e4m3 codes stored as
    # bytes with one fp32 scale per (slot, head), at rows // D in a contiguous pool; dequantised
    # as code * scale in fp32 and rounded once to q's dtype, as the engine's gather path does.
    x = tl.load(ptr + rows[:, None] + d[None, :], mask=live[:, None], other=0)
    if FP8:
        scale = tl.load(scales_ptr + rows // D, mask=live, other=0.0)  # (BLOCK_N,)
        x = (x.to(tl.float8e4nv, bitcast=True).to(tl.float32) * scale[:, None]).to(dtype)
    return x


@triton.jit
def _weighted_values(p, v):
    # p @ v with p in fp32 (BLOCK_G, BLOCK_N) and v (BLOCK_N, D) in the cache dtype.
    if v.dtype == tl.float32:
        pv = tl.dot(p, v, input_precision="ieee")
    else:
        hi = p.to(v.dtype)
        lo = (p - hi.to(tl.float32)).to(v.dtype)  # what rounding p to half lost
        pv = tl.dot(hi, v) + tl.dot(lo, v)
    return pv


@triton.jit
def _online_update(m, den, acc, s, v):
    # One tile of the online softmax, scores s in log2 units (BLOCK_G, BLOCK_N), -inf where masked.
    m_new = tl.maximum(m, tl.max(s, axis=1))  # (BLOCK_G,) finite: every tile has a live key
    alpha = tl.exp2(m - m_new)  # rescales what was summed against the old max (0 at the start)
    p = tl.exp2(s - m_new[:, None])  # (BLOCK_G, BLOCK_N)
    den = den * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None] + _weighted_values(p, v)
    return m_new, den, acc


@triton.jit
def _split_kernel(
    q_ptr, k_ptr, v_ptr, ks_ptr, vs_ptr, tables_ptr, lens_ptr, m_ptr, den_ptr, acc_ptr, out_ptr,
    locks_ptr, scale_log2, HQ, HKV, GROUP, TILES, SPLITS, chunk, table_stride,
    q_stride_b, q_stride_h, page_stride, slot_stride, head_stride,
    S: tl.constexpr, D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_G: tl.constexpr,
    DIRECT: tl.constexpr, FP8: tl.constexpr, PDL: tl.constexpr, FUSED: tl.constexpr,
    SPLITS_POW2: tl.constexpr, SPLIT_BLOCK: tl.constexpr,
    SPLIT_BOUNDS: tl.constexpr, QUERY_HEADS: tl.constexpr, TOKEN_ROWS: tl.constexpr,
    ONLINE_UPDATE: tl.constexpr, SPLIT_WEIGHT: tl.constexpr,  # the @triton.jit steps, swappable
):  # fmt: skip
    # Program (b, kv_head * TILES + tile, split): reads the split's keys and values of one KV
    # head once, writes (m, den, acc) for the query heads of that head: rows (b, h, split).
    # DIRECT (one split holds every key of every sequence): writes out[b, h] = acc / den instead.
    if PDL:
        gdc_launch_dependents()  # the combine may be scheduled now; it waits for these partials
    b, kv_tile, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    kv_head, tile = kv_tile // TILES, kv_tile % TILES
    seq_len = tl.load(lens_ptr + b)
    start, end = SPLIT_BOUNDS(seq_len, split, chunk, S)
    if start >= end:
        return  # past this sequence's end: the combine never reads this split
    heads, head_ok = QUERY_HEADS(kv_head, tile, GROUP, HKV, BLOCK_G)  # (BLOCK_G,)
    d = tl.arange(0, D)
    q_rows = b.to(tl.int64) * q_stride_b + heads * q_stride_h
    q = tl.load(q_ptr + q_rows[:, None] + d[None, :], mask=head_ok[:, None], other=0.0)
    m = tl.full((BLOCK_G,), float("-inf"), tl.float32)
    den = tl.zeros((BLOCK_G,), tl.float32)
    acc = tl.zeros((BLOCK_G, D), tl.float32)
    table_row = tables_ptr + b.to(tl.int64) * table_stride
    for first in range(start, end, BLOCK_N):
        tok = first + tl.arange(0, BLOCK_N)
        live = tok < end
        rows = TOKEN_ROWS(table_row, tok, live, page_stride, slot_stride, S)
        rows += kv_head * head_stride  # (BLOCK_N,) int64
        k = _kv_tile(k_ptr, ks_ptr, rows, d, live, q.dtype, D, FP8)  # (BLOCK_N, D)
        if k.dtype == tl.float32:
            s = tl.dot(q, tl.trans(k), input_precision="ieee")
        else:
            s = tl.dot(q, tl.trans(k))  # (BLOCK_G, BLOCK_N) fp32 accumulation
        s = tl.where(live[None, :], s * scale_log2, float("-inf"))
        v = _kv_tile(v_ptr, vs_ptr, rows, d, live, q.dtype, D, FP8)  # (BLOCK_N, D)
        m, den, acc = ONLINE_UPDATE(m, den, acc, s, v)
    if DIRECT:
        out = out_ptr + q_rows[:, None] + d[None, :]  # out has q's layout
        tl.store(out, (acc / den[:, None]).to(out_ptr.dtype.element_ty), mask=head_ok[:, None])
    else:
        part = (b * HQ + heads) * SPLITS + split  # (BLOCK_G,) partial rows
        tl.store(m_ptr + part, m, mask=head_ok)
        tl.store(den_ptr + part, den, mask=head_ok)
        tl.store(acc_ptr + part[:, None] * D + d[None, :], acc, mask=head_ok[:, None])
        if FUSED:  # the last split of (b, kv_tile) to arrive merges its heads' partials
            tl.debug_barrier()  # every thread's stores above precede the release below
            lock = locks_ptr + b * HKV * TILES + kv_tile
            if tl.atomic_add(lock, 1, sem="acq_rel") == tl.cdiv(seq_len, chunk) - 1:
                tl.atomic_xchg(lock, 0)  # reset for the next call
                tl.debug_barrier()  # the other threads read after the acquire
                _merge_heads(m_ptr, den_ptr, acc_ptr, out_ptr, b, heads, head_ok, q_stride_b,
                             q_stride_h, HQ, SPLITS, tl.cdiv(seq_len, chunk), BLOCK_G, D,
                             SPLITS_POW2, SPLIT_BLOCK, SPLIT_WEIGHT)  # fmt: skip


HELPERS = {  # the steps a variant may swap, by the name it defines them under
    "_split_bounds": _split_bounds,
    "_query_heads": _query_heads,
    "_token_rows": _token_rows,
    "_online_update": _online_update,
    "_split_weight": _split_weight,
}


def attend(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
    helpers: dict | None = None,
    plan: Plan | None = None,
    scales: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """paged_decode_attention with the given plan and @triton.jit steps (`helpers`, by name:
    the variants swap one) for the sweep and the wrong variants; `scales` (k, v) marks uint8
    caches of e4m3 codes, see paged_decode_attention_fp8."""
    steps = {**HELPERS, **(helpers or {})}
    B, Hq, D = q.shape
    P, S, Hkv, _ = k_cache.shape
    assert k_cache.shape == v_cache.shape and k_cache.stride() == v_cache.stride()
    assert Hq % Hkv == 0 and D in (16, 32, 64, 128, 256) and k_cache.stride(-1) == 1
    assert block_tables.dtype == torch.int32 and seq_lens.dtype == torch.int32
    if scales is not None:
        assert k_cache.dtype == torch.uint8 and k_cache.is_contiguous() and v_cache.is_contiguous()
        assert all(s.shape == (P, S, Hkv, 1) and s.is_contiguous() for s in scales)
    k_scales, v_scales = scales if scales is not None else (k_cache, v_cache)  # unread if None
    q, block_tables, seq_lens = q.contiguous(), block_tables.contiguous(), seq_lens.contiguous()
    plan = plan or plan_for(q, k_cache, block_tables.shape[1])
    assert plan.chunk % S == 0, "a split must hold whole pages"
    tiles = triton.cdiv(Hq // Hkv, plan.block_g)
    splits = triton.cdiv(block_tables.shape[1] * S, plan.chunk)
    out = torch.empty((B, Hq, D), dtype=q.dtype, device=q.device)  # (B, Hq, D)
    m = torch.empty((B, Hq, splits), dtype=torch.float32, device=q.device)  # partial maxes
    den = torch.empty_like(m)  # partial sums of exp
    acc = torch.empty((B, Hq, splits, D), dtype=torch.float32, device=q.device)  # sums of p*v
    grid = (B, Hkv * tiles, splits)
    fused = plan.fuse and splits > 1
    pdl = plan.pdl and splits > 1 and not fused and programmatic_launch(q.device)
    locks = _locks(q.device, B * Hkv * tiles) if fused else seq_lens  # unread unless fused
    _split_kernel[grid](
        q, k_cache, v_cache, k_scales, v_scales, block_tables, seq_lens, m, den, acc, out, locks,
        scale * LOG2E, Hq, Hkv, Hq // Hkv, tiles, splits, plan.chunk, block_tables.stride(0),
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        S=S, D=D, BLOCK_N=plan.block_n, BLOCK_G=plan.block_g,
        DIRECT=splits == 1, FP8=scales is not None, PDL=pdl, FUSED=fused,
        SPLITS_POW2=triton.next_power_of_2(splits), SPLIT_BLOCK=16,
        SPLIT_BOUNDS=steps["_split_bounds"], QUERY_HEADS=steps["_query_heads"],
        TOKEN_ROWS=steps["_token_rows"], ONLINE_UPDATE=steps["_online_update"],
        SPLIT_WEIGHT=steps["_split_weight"], num_warps=plan.warps, num_stages=plan.stages,
    )  # fmt: skip
    if splits == 1 or fused:
        return out
    _combine_kernel[(B, Hq)](
        m, den, acc, seq_lens, out, Hq, splits, plan.chunk, out.stride(0), out.stride(1),
        D=D, SPLITS_POW2=triton.next_power_of_2(splits), SPLIT_BLOCK=16, PDL=pdl,
        SPLIT_WEIGHT=steps["_split_weight"], **({"launch_pdl": True} if pdl else {}),
    )  # fmt: skip
    return out


def paged_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    return attend(q, k_cache, v_cache, block_tables, seq_lens, scale)


def paged_decode_attention_fp8(
    q: torch.Tensor,
    k_codes: torch.Tensor,
    v_codes: torch.Tensor,
    k_scales: torch.Tensor,
    v_scales: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Beyond the problem's contract, for the engine's FP8 KV cache (kv_cache_dtype="fp8"):
    k_codes and v_codes (P, S, Hkv, D) uint8 hold e4m3 codes, k_scales and v_scales
    (P, S, Hkv, 1) fp32 one scale per cached head vector (the fp8_quant solution's per-group
    scales with group = D). The pages are read in place as codes: half the bytes of bf16."""
    return attend(q, k_codes, v_codes, block_tables, seq_lens, scale, scales=(k_scales, v_scales))
