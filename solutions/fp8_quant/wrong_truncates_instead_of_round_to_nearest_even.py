"""Known-wrong FP8 quantisation: a hand-written fp32 -> e4m3 conversion that drops the low
mantissa bits (rounds toward zero) instead of rounding to nearest, ties to even.

Scales are right and values that are exact e4m3 codes survive; about half of all other values
land one code step low, a bias of half a step toward zero.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.fp8_quant.triton import dequant_fp8, quant_fp8_with

__all__ = ["dequant_fp8", "quant_fp8"]


@triton.jit
def _e4m3_bits_truncated(v):
    bits = v.to(tl.int32, bitcast=True)
    mag = bits & 0x7FFFFFFF
    normal = (mag >> 20) - (120 << 3)  # BUG: no rounding bias before dropping 20 bits
    a = mag.to(tl.float32, bitcast=True)
    sub = (a * 512.0).to(tl.int32)  # BUG: float -> int conversion truncates too
    code = tl.where(a < 0.015625, sub, normal)
    return (code | ((bits >> 24) & 0x80)).to(tl.uint8)


def quant_fp8(x, group_size=128):
    return quant_fp8_with(x, group_size, e4m3_bits=_e4m3_bits_truncated)
