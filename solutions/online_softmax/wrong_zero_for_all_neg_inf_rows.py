"""Known-wrong softmax: guards the division so that a row of all -inf gives 0, not NaN.

A habit from attention kernels, where a fully masked row is often defined as 0; torch.softmax
returns NaN there (0/0), and this problem follows torch. Every other row is right.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.online_softmax.triton import softmax_with


@triton.jit
def _guarded_divide(a, s):
    return tl.where(s > 0, a / s, 0.0)  # BUG: an all -inf row becomes 0 instead of NaN


def softmax(x):
    return softmax_with(x, divide=_guarded_divide)
