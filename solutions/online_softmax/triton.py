"""Softmax over the last dim in Triton: x read from DRAM once at every row length.

Idea: softmax(x)_i = exp(x_i - m) / s with m = max(x) and s = sum_j exp(x_j - m); subtracting
m keeps exp from overflowing at x = 1e4. Statistics of two pieces of a row merge exactly:
(m, s) = (max(m1, m2), s1 * exp(m1 - m) + s2 * exp(m2 - m)), the online-softmax rule. Three
paths, chosen by row length and device:
  1. N <= MAX_ROW_BLOCK: one program per row holds the row in registers. Read once, write once.
  2. longer rows on CUDA: each row is cut into C = cdiv(N, SPLIT_BLOCK) chunks, one program
     per chunk, each chunk held in registers. A program publishes its chunk's (max, sum) as one
     packed 64-bit word in a per-call zeroed workspace (0 = not yet published), polls its row's
     C words until none is 0, merges the C pairs with the rule above and scales its chunk,
     still in registers. x is read once; the workspace adds 8 bytes per chunk. The message is
     its own flag, so a waiting program needs one L2 round trip per poll and no separate
     counter, fence or second read of the statistics. (A persistent variant, k programs per
     SM each owning a chunk of several rows and reading the next row's chunk while it waits,
     measured 0.756 of copy on an H200 against this one's 0.780, and was dropped.)
  3. otherwise (the Triton interpreter, or C > SM count): one program per row loops over the
     row: a first loop keeps a running max and a running sum, rescaling the sum whenever the
     max grows; a second loop reads x again and writes the output. 3 passes of bytes, not 2.
Memory traffic: paths 1 and 2 move 2*M*N*itemsize bytes, the minimum; path 3 moves 3*M*N*itemsize.

Co-residency, the condition path 2 depends on. A waiting program keeps its SM slot, so path 2
can deadlock if the programs a row waits for can never start. Programs therefore take their
(row, chunk) from an atomic ticket, not from program_id: tickets are handed out in order, so
when a program holds ticket t every ticket below t is held by a program that is running or
done. Every row whose C tickets are all taken finishes; only the row holding the newest ticket
can be incomplete, and its up to C - 1 waiting programs cannot fill the GPU as long as it holds
at least C programs at once. Every SM can hold one program of a kernel that launches at all,
so C <= SM count suffices (C <= 64 here for N <= 262144; an H100 or H200 has 132 SMs), and
the wrapper falls back to path 3 otherwise. What this does not cover: other
work that holds SMs indefinitely (a persistent kernel on another stream, an MPS or
green-context SM limit below C).
The interpreter runs programs one after another, so a waiting program would wait forever:
path 2 never runs there. tests/unit/test_online_softmax_split_merge.py runs its kernel in the
interpreter with the workspace pre-filled (no program waits); tests/gpu/ checks it whole.

Three small @triton.jit steps, _finite_or_zero (the shift), _rescaled (the online rescale) and
_divide (by the sum), reach the kernels as constexpr arguments and are inlined; each wrong_*.py
variant passes its own version of one step through softmax_with.

Tuning: the UPPER_CASE constants below are the knobs; scripts/gpu_softmax_sweep.py times them
on the bench cases in one GPU call.
Run it: `dojo check online_softmax --impl solution`, `dojo bench online_softmax --impl solution`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

MAX_ROW_BLOCK = 16384  # longest row kept whole in one program's registers (path 1)
SPLIT_BLOCK = 4096  # elements per program in path 2
SPLIT_WARPS = 4
# Cache hints for x and out in paths 1 and 2: "" (none) or "evict_first" (each byte is used once)
ROW_EVICT = ""
SPLIT_EVICT = ""
LOOP_BLOCK = 4096  # elements per loop step in path 3
LOOP_WARPS = 8
# Path 2 takes (row, chunk) from an atomic ticket (the proof above needs it). False uses
# program_id instead: one atomic round trip less per program, but then progress rests on the
# hardware dispatching programs in program_id order, which CUDA does in practice but does not
# promise.
TICKETS = True


@triton.jit
def _finite_or_zero(m):
    # The shift for exp(x - m). A max of -inf (nothing but -inf so far) would make
    # exp(-inf - -inf) = NaN; shifting by 0 instead gives exp(-inf) = 0, and a row that is all
    # -inf ends with 0 / 0 = NaN, exactly what torch.softmax returns.
    return tl.where(m == float("-inf"), 0.0, m)


@triton.jit
def _rescaled(s, m, shift):
    # s, a sum of exp(x - m) (m: the max it was summed against), as a sum of exp(x - shift).
    return s * tl.exp(m - shift)


@triton.jit
def _divide(a, s):
    # a / s, s a sum of exp. A row that is all -inf has s = 0: a / 0 = inf (or NaN), and the
    # output exp(-inf) * inf = NaN is what torch gives.
    return a / s


@triton.jit
def _softmax_row_kernel(
    x_ptr,
    out_ptr,
    N,
    x_row_stride,
    out_row_stride,
    BLOCK: tl.constexpr,
    EVICT: tl.constexpr,
    SHIFT: tl.constexpr,
    DIVIDE: tl.constexpr,
):
    # Path 1. Program i owns row i: reads x[i, :N] once, writes out[i, :N] once.
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x_row = x_ptr + row * x_row_stride
    x = tl.load(x_row + cols, mask=mask, other=float("-inf"), eviction_policy=EVICT)
    x = x.to(tl.float32)  # (BLOCK,) padded lanes hold -inf and contribute exp(-inf) = 0
    e = tl.exp(x - SHIFT(tl.max(x, axis=0)))
    y = e * DIVIDE(1.0, tl.sum(e, axis=0))
    out_row = out_ptr + row * out_row_stride
    tl.store(out_row + cols, y.to(out_ptr.dtype.element_ty), mask=mask, eviction_policy=EVICT)


@triton.jit
def _pack(m, s):
    # (max, sum) of a chunk as one int64: the max's fp32 bits high, the sum's low. No real chunk
    # packs to 0: a max of +0.0 means an entry equal to the shift, so its sum is at least 1.
    hi = m.to(tl.int32, bitcast=True).to(tl.int64) << 32
    return hi | s.to(tl.uint32, bitcast=True).to(tl.int64)


@triton.jit
def _unpack(pair):
    m = (pair >> 32).to(tl.int32).to(tl.float32, bitcast=True)
    return m, pair.to(tl.int32).to(tl.float32, bitcast=True)


@triton.jit
def _row_scale(
    pairs_ptr,
    chunks,
    m,
    CHUNKS_POW2: tl.constexpr,
    SHIFT: tl.constexpr,
    RESCALE: tl.constexpr,
    DIVIDE: tl.constexpr,
):
    # Waits until all `chunks` packed (max, sum) words of a row at pairs_ptr are published (not
    # 0), merges them, and returns exp(m - row max) / row sum: the factor that turns a chunk's
    # exp(x - SHIFT(m)) into its softmax.
    j = tl.arange(0, CHUNKS_POW2)
    valid = j < chunks
    # volatile: every poll reads L2 (L1 is not coherent across SMs) and is never hoisted
    pairs = tl.load(pairs_ptr + j, mask=valid, other=0, volatile=True)  # (CHUNKS_POW2,)
    while tl.sum((valid & (pairs == 0)).to(tl.int32), axis=0) > 0:  # spin: siblings run now
        pairs = tl.load(pairs_ptr + j, mask=valid, other=0, volatile=True)
    ms, ss = _unpack(pairs)
    ms, ss = tl.where(valid, ms, float("-inf")), tl.where(valid, ss, 0.0)  # padding is neutral
    shift = SHIFT(tl.max(ms, axis=0))  # the row max
    total = tl.sum(RESCALE(ss, ms, shift), axis=0)  # the online merge of all C chunks
    return DIVIDE(tl.exp(m - shift), total)  # from this chunk's max to the row's


@triton.jit
def _softmax_split_kernel(
    x_ptr,
    out_ptr,
    sync_ptr,
    N,
    chunks,
    x_row_stride,
    out_row_stride,
    BLOCK: tl.constexpr,
    CHUNKS_POW2: tl.constexpr,
    TICKET: tl.constexpr,
    EVICT: tl.constexpr,
    SHIFT: tl.constexpr,
    RESCALE: tl.constexpr,
    DIVIDE: tl.constexpr,
):
    # Path 2. A program owns one chunk of BLOCK columns of one row. sync (int64, zeroed for
    # each call): sync[0] hands out tickets, sync[1 + row * chunks + chunk] is the chunk's
    # packed (max, sum), 0 until the chunk has published it.
    if TICKET:  # see the module docstring: why a ticket, not program_id
        ticket = tl.atomic_add(sync_ptr, 1, sem="relaxed").to(tl.int32)
    else:
        ticket = tl.program_id(0)
    row, chunk = ticket // chunks, ticket % chunks
    cols = chunk * BLOCK + tl.arange(0, BLOCK)
    mask = cols < N
    x_row = x_ptr + row.to(tl.int64) * x_row_stride
    x = tl.load(x_row + cols, mask=mask, other=float("-inf"), eviction_policy=EVICT)
    x = x.to(tl.float32)  # (BLOCK,) read x[row, chunk] once
    m = tl.max(x, axis=0)
    e = tl.exp(x - SHIFT(m))  # (BLOCK,) kept in registers until the end
    pairs_ptr = sync_ptr + 1 + row * chunks
    # One 64-bit word carries the whole message, so no fence has to order data before a flag.
    tl.atomic_xchg(pairs_ptr + chunk, _pack(m, tl.sum(e, axis=0)), sem="relaxed")
    y = e * _row_scale(pairs_ptr, chunks, m, CHUNKS_POW2, SHIFT, RESCALE, DIVIDE)
    out_row = out_ptr + row.to(tl.int64) * out_row_stride
    tl.store(out_row + cols, y.to(out_ptr.dtype.element_ty), mask=mask, eviction_policy=EVICT)


@triton.jit
def _softmax_looped_kernel(
    x_ptr,
    out_ptr,
    N,
    x_row_stride,
    out_row_stride,
    BLOCK: tl.constexpr,
    SHIFT: tl.constexpr,
    RESCALE: tl.constexpr,
    DIVIDE: tl.constexpr,
):
    # Path 3. Program i owns row i: reads x[i, :N] twice, writes out[i, :N] once.
    row = tl.program_id(0).to(tl.int64)
    x_row, out_row = x_ptr + row * x_row_stride, out_ptr + row * out_row_stride
    cols = tl.arange(0, BLOCK)
    m = float("-inf")  # running max of the blocks seen so far
    s = 0.0  # running sum of exp(x - m) over those blocks
    for start in range(0, N, BLOCK):
        x = tl.load(x_row + start + cols, mask=start + cols < N, other=float("-inf"))
        x = x.to(tl.float32)  # (BLOCK,)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        shift = SHIFT(m_new)
        # the online step: rescale the old sum from the old max to the new one, then add
        s = RESCALE(s, m, shift) + tl.sum(tl.exp(x - shift), axis=0)
        m = m_new
    shift, inv = SHIFT(m), DIVIDE(1.0, s)
    for start in range(0, N, BLOCK):
        mask = start + cols < N
        x = tl.load(x_row + start + cols, mask=mask, other=float("-inf")).to(tl.float32)
        y = tl.exp(x - shift) * inv
        tl.store(out_row + start + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def _row_warps(block: int) -> int:
    return 4 if block <= 2048 else 8 if block <= 8192 else 16


def softmax(x: torch.Tensor) -> torch.Tensor:
    return softmax_with(x)


def softmax_with(
    x: torch.Tensor,
    *,
    shift: triton.JITFunction = _finite_or_zero,
    rescale: triton.JITFunction = _rescaled,
    divide: triton.JITFunction = _divide,
) -> torch.Tensor:
    """softmax built from the three steps above (the wrong_*.py variants pass their own)."""
    steps = {"SHIFT": shift, "DIVIDE": divide}  # path 1 keeps no running sum
    assert x.ndim == 2 and x.dtype in (torch.float32, torch.float16, torch.bfloat16)
    if x.stride(-1) != 1:
        x = x.contiguous()  # rows may be strided (a view of wider logits); columns may not
    M, N = x.shape
    out = torch.empty((M, N), dtype=x.dtype, device=x.device)  # (M, N)
    if M == 0 or N == 0:
        return out
    chunks = triton.cdiv(N, SPLIT_BLOCK)
    if N <= MAX_ROW_BLOCK:
        block = triton.next_power_of_2(N)
        _softmax_row_kernel[(M,)](
            x,
            out,
            N,
            x.stride(0),
            out.stride(0),
            BLOCK=block,
            EVICT=ROW_EVICT,
            **steps,
            num_warps=_row_warps(block),
        )
    elif x.is_cuda and chunks <= torch.cuda.get_device_properties(x.device).multi_processor_count:
        _split(x, out, chunks, RESCALE=rescale, **steps)
    else:
        _softmax_looped_kernel[(M,)](
            x,
            out,
            N,
            x.stride(0),
            out.stride(0),
            BLOCK=LOOP_BLOCK,
            RESCALE=rescale,
            **steps,
            num_warps=LOOP_WARPS,
        )
    return out


def _split(x: torch.Tensor, out: torch.Tensor, chunks: int, **steps: triton.JITFunction) -> None:
    M, N = x.shape
    # Zeroed for every call, so no state survives from one call to the next: the ticket counter
    # and one packed (max, sum) word per chunk, 0 meaning "not published yet".
    sync = torch.zeros(1 + M * chunks, dtype=torch.int64, device=x.device)  # (1 + M*C,)
    meta = dict(BLOCK=SPLIT_BLOCK, CHUNKS_POW2=triton.next_power_of_2(chunks), EVICT=SPLIT_EVICT)
    strides = (x.stride(0), out.stride(0))
    _softmax_split_kernel[(M * chunks,)](
        x, out, sync, N, chunks, *strides, **meta, TICKET=TICKETS, **steps,
        num_warps=SPLIT_WARPS,
    )  # fmt: skip
