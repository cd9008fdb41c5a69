"""Known-wrong FP8 quantisation: scale = amax / 448 with no floor.

Right for every group with a nonzero value; an all-zero group (padding, dead activations)
gets scale 0 and x / scale = 0 / 0 = NaN.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.fp8_quant.triton import dequant_fp8, quant_fp8_with

__all__ = ["dequant_fp8", "quant_fp8"]


@triton.jit
def _group_scales(x):
    return tl.math.div_rn(tl.max(tl.abs(x), axis=1), 448.0)  # BUG: no max(amax, 1e-10)


def quant_fp8(x, group_size=128):
    return quant_fp8_with(x, group_size, scales_of=_group_scales)
