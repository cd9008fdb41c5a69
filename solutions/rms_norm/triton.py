"""RMSNorm in Triton: one program per row, the whole row in registers, fp32 statistics.

Idea: a row of H <= 16384 elements fits in one program's registers, so x is read from DRAM
exactly once and the output written once: 2*N*H*itemsize + H*itemsize bytes, the minimum.
The mean of squares is accumulated in fp32 (fp16 squares overflow at |x| > 256), eps goes
inside the square root, and the mean divides by H, not by the padded block width.
The statistic is the @triton.jit function _inv_rms, which the kernel takes as a constexpr
argument and Triton inlines; each wrong_*.py variant passes its own through rms_norm_with.
Limits: H is capped by register capacity (16384 here); a longer row would need a loop.
Run it: `dojo check rms_norm --impl solution`, `dojo bench rms_norm --impl solution`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# Launch knobs (scripts/sweep.py rms_norm times them on a GPU): warps per program, 0 for the
# rule in _num_warps; a cache hint for x, read once ("" none, or "evict_first"); PERSISTENT > 0:
# that many programs per SM, each looping over rows with the next row's load in flight, instead
# of one program per row. Not yet timed: off.
WARPS = 0
EVICT = ""
PERSISTENT = 0


@triton.jit
def _inv_rms(x, H, eps):
    # x: (BLOCK_H,) one row as stored, 0 in the padded lanes. 1 / sqrt(mean(x^2) + eps), with
    # the squares summed in fp32 and the mean taken over the H real columns.
    x = x.to(tl.float32)
    return 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / H + eps)


@triton.jit
def _rms_norm_kernel(
    x_ptr,
    w_ptr,
    out_ptr,
    H,
    eps,
    x_row_stride,
    out_row_stride,
    BLOCK_H: tl.constexpr,
    INV_RMS: tl.constexpr,  # the statistic, a @triton.jit function: _inv_rms
    EVICT_X: tl.constexpr = "",
):
    # Program i owns row i: reads x[i, :H] and weight[:H], writes out[i, :H].
    row = tl.program_id(0).to(tl.int64)
    _normalize_row(x_ptr, w_ptr, out_ptr, row, H, eps, x_row_stride, out_row_stride, BLOCK_H,
                   INV_RMS, EVICT_X)  # fmt: skip


@triton.jit
def _rms_norm_rows_kernel(
    x_ptr, w_ptr, out_ptr, N, H, eps, x_row_stride, out_row_stride, BLOCK_H: tl.constexpr,
    INV_RMS: tl.constexpr, EVICT_X: tl.constexpr,
):  # fmt: skip
    # PERSISTENT: program i owns rows i, i + programs, ...; the next row's load is issued before
    # this row is reduced and stored, so a program always has a row in flight (Triton's loop
    # pipeliner leaves loads that feed no tl.dot alone: the prefetch is written out here).
    first, step = tl.program_id(0).to(tl.int64), tl.num_programs(0)  # int64: row offsets
    x = _load_row(x_ptr, first, _width(first, N, H), x_row_stride, BLOCK_H, EVICT_X)
    for i in range(0, tl.cdiv(N - tl.program_id(0), step)):
        row = first + i * step
        following = _load_row(x_ptr, row + step, _width(row + step, N, H), x_row_stride, BLOCK_H,
                              EVICT_X)  # fmt: skip
        _finish_row(x, w_ptr, out_ptr, row, H, eps, out_row_stride, BLOCK_H, INV_RMS)
        x = following


@triton.jit
def _normalize_row(
    x_ptr, w_ptr, out_ptr, row, H, eps, x_row_stride, out_row_stride, BLOCK_H: tl.constexpr,
    INV_RMS: tl.constexpr, EVICT_X: tl.constexpr,
):  # fmt: skip
    # Reads x[row, :H] and weight[:H], writes out[row, :H].
    x = _load_row(x_ptr, row, H, x_row_stride, BLOCK_H, EVICT_X)
    _finish_row(x, w_ptr, out_ptr, row, H, eps, out_row_stride, BLOCK_H, INV_RMS)


@triton.jit
def _width(row, N, H):
    # H for a row of x, 0 past its last row (the persistent loop's prefetch: nothing read)
    return H * (row < N).to(tl.int32)


@triton.jit
def _load_row(x_ptr, row, width, x_row_stride, BLOCK_H: tl.constexpr, EVICT_X: tl.constexpr):
    # x[row, :width] as stored, 0 in the padded lanes.
    cols = tl.arange(0, BLOCK_H)
    mask = cols < width
    return tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=0.0, eviction_policy=EVICT_X)


@triton.jit
def _finish_row(
    x, w_ptr, out_ptr, row, H, eps, out_row_stride, BLOCK_H: tl.constexpr, INV_RMS: tl.constexpr
):
    # out[row, :H] = weight * (x * 1/rms(x)) rounded as HF does.
    cols = tl.arange(0, BLOCK_H)
    mask = cols < H
    inv_rms = INV_RMS(x, H, eps)  # inlined; its fp32 cast of x is the one below (CSE)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    normed = (x.to(tl.float32) * inv_rms).to(out_ptr.dtype.element_ty)  # HF: round, then scale
    tl.store(out_ptr + row * out_row_stride + cols, w * normed, mask=mask)


def _num_warps(block: int) -> int:
    return 4 if block <= 2048 else 8 if block <= 8192 else 16


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return rms_norm_with(x, weight, eps)


def rms_norm_with(
    x: torch.Tensor, weight: torch.Tensor, eps: float, *, inv_rms: triton.JITFunction = _inv_rms
) -> torch.Tensor:
    """rms_norm with the row statistic computed by inv_rms (the wrong_*.py variants pass theirs)."""
    H = x.shape[-1]
    assert weight.shape == (H,) and weight.dtype == x.dtype, "weight must be (H,) in x.dtype"
    assert H <= 16384, "this kernel keeps a row in registers: H <= 16384"
    x2 = x.reshape(-1, H)  # (N, H) a view when x is contiguous
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    out = torch.empty(x2.shape, dtype=x.dtype, device=x.device)  # (N, H)
    block = triton.next_power_of_2(H)
    N, warps = x2.shape[0], WARPS or _num_warps(block)
    args = (x2, weight, out, H, eps, x2.stride(0), out.stride(0))
    meta = dict(BLOCK_H=block, INV_RMS=inv_rms, EVICT_X=EVICT, num_warps=warps)
    if PERSISTENT and N:
        programs = min(N, PERSISTENT * _sm_count(x2.device))
        _rms_norm_rows_kernel[(programs,)](*args[:3], N, *args[3:], **meta)
    else:
        _rms_norm_kernel[(N,)](*args, **meta)
    return out.view(x.shape)


def _sm_count(device: torch.device) -> int:
    if device.type != "cuda":
        return 4  # the interpreter: a few programs, each looping over rows
    return torch.cuda.get_device_properties(device).multi_processor_count


def fused_add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rms_norm(x + residual), x + residual); the sum is rounded to x.dtype first, as HF does."""
    h = x + residual  # (..., H) one extra read/write pass; a fused kernel would save it
    return rms_norm(h, weight, eps), h
