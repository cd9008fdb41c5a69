"""Known-wrong softmax: exp(x) / sum(exp(x)) without subtracting the row max first.

Mathematically equal and fine on unit-scale data; exp(89) already overflows fp32, so a row
holding 1e4 gives inf / inf = NaN.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.online_softmax.triton import softmax_with


@triton.jit
def _no_shift(m):
    return tl.zeros_like(m)  # BUG: exp(x - 0) overflows for x > 88.7


def softmax(x):
    return softmax_with(x, shift=_no_shift)
