"""Known-wrong online softmax: when a block raises the running max, the running sum is not
rescaled to the new max (the `s *= exp(m_old - m_new)` step is missing).

Correct whenever the row fits in one program (N <= 16384 here), or its max sits in the first
block; wrong for longer rows whose max grows later, where the old terms keep their larger,
stale scale.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl  # noqa: F401  (the interpreter wants tl in a jit function's module)

from solutions.online_softmax.triton import softmax_with


@triton.jit
def _not_rescaled(s, m, shift):
    return s  # BUG: s was summed against the old max m, not against shift


def softmax(x):
    return softmax_with(x, rescale=_not_rescaled)
