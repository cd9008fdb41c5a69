"""Known-wrong paged attention: the second pass adds the splits' partial sums as they are,
out = sum_s acc_s / sum_s den_s, although each split summed exp(s - m_s) against its own max.

Exact while a sequence fits one split; with several splits every partial counts
exp(M - m_s) times too much or too little. and by
test_matches_reference_on_sequences_split_across_programs.

Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.paged_attention._variant import attention_with


@triton.jit
def _split_weight(m_split, m_max):
    return tl.zeros_like(m_split) + 1.0  # BUG: no exp2(m_split - m_max) rescaling


paged_decode_attention = attention_with(_split_weight=_split_weight)
