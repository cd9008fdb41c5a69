"""Known-wrong paged attention: the online softmax sums exp(s) without subtracting the running
max (m stays 0, so the merge of the splits still agrees with it).

Mathematically the same and right for unit-scale scores; a score above 128 in log2 units
(88.7 in natural ones) overflows exp to inf, and inf / inf is NaN.

Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.paged_attention._variant import attention_with
from solutions.paged_attention.triton import _weighted_values


@triton.jit
def _online_update(m, den, acc, s, v):
    p = tl.exp2(s)  # BUG: no max subtracted; overflows to inf for large scores
    return tl.zeros_like(m), den + tl.sum(p, axis=1), acc + _weighted_values(p, v)


paged_decode_attention = attention_with(_online_update=_online_update)
