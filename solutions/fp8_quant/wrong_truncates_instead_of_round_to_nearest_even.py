"""Known-wrong FP8 quantisation: a hand-written fp32 -> e4m3 conversion that drops the low
mantissa bits (rounds toward zero) instead of rounding to nearest, ties to even.

Scales are right and values that are exact e4m3 codes survive; about half of all other values
land one code step low, a bias of half a step toward zero.
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _e4m3_bits_truncated(v):
    bits = v.to(tl.int32, bitcast=True)
    mag = bits & 0x7FFFFFFF
    normal = (mag >> 20) - (120 << 3)  # BUG: no rounding bias before dropping 20 bits
    a = mag.to(tl.float32, bitcast=True)
    sub = (a * 512.0).to(tl.int32)  # BUG: float -> int conversion truncates too
    code = tl.where(a < 0.015625, sub, normal)
    return (code | ((bits >> 24) & 0x80)).to(tl.uint8)


@triton.jit
def _quant_fp8_kernel(x_ptr, q_ptr, s_ptr, GROUP: tl.constexpr, BLOCK_G: tl.constexpr):
    gid = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_G)
    mask = cols < GROUP
    x = tl.load(x_ptr + gid * GROUP + cols, mask=mask, other=0.0).to(tl.float32)
    scale = tl.maximum(tl.max(tl.abs(x), axis=0), 1e-10) / 448.0
    q = _e4m3_bits_truncated(tl.clamp(x / scale, -448.0, 448.0))
    tl.store(q_ptr + gid * GROUP + cols, q, mask=mask)
    tl.store(s_ptr + gid, scale)


def quant_fp8(x: torch.Tensor, group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    T, H = x.shape
    x = x.contiguous()
    q = torch.empty((T, H), dtype=torch.float8_e4m3fn, device=x.device)  # (T, H)
    scales = torch.empty((T, H // group_size), dtype=torch.float32, device=x.device)  # (T, G)
    _quant_fp8_kernel[(T * (H // group_size),)](
        x, q.view(torch.uint8), scales, GROUP=group_size, BLOCK_G=triton.next_power_of_2(group_size)
    )
    return q, scales


def dequant_fp8(q: torch.Tensor, scales: torch.Tensor, group_size: int = 128) -> torch.Tensor:
    T, H = q.shape
    return (q.float().reshape(T, -1, group_size) * scales[..., None]).reshape(T, H)
