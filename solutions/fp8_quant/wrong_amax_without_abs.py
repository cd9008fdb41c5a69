"""Known-wrong FP8 quantisation: the group scale comes from max(x), not max(|x|).

Right for groups whose largest magnitude is positive; where it is negative the scale is too
small and those values clamp at -448 (an all-negative group even gets the 1e-10 floor).
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.fp8_quant.triton import dequant_fp8, quant_fp8_with

__all__ = ["dequant_fp8", "quant_fp8"]


@triton.jit
def _group_scales(x):
    amax = tl.max(x, axis=1)  # BUG: max(x), not max(|x|)
    return tl.math.div_rn(tl.maximum(amax, 1e-10), 448.0)


def quant_fp8(x, group_size=128):
    return quant_fp8_with(x, group_size, scales_of=_group_scales)
