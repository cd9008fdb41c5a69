"""Known-wrong paged attention: a split ends at the end of the page that holds the sequence's
last key, not at seq_len, so the stale slots in the tail of the last page are attended too.

Right whenever seq_len is a multiple of the page size S (always for S = 1). and by
test_slots_past_seq_len_are_never_read (NaN in every slot no sequence owns).

Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.paged_attention._variant import attention_with


@triton.jit
def _split_bounds(seq_len, split, chunk, S: tl.constexpr):
    start = split * chunk
    return start, tl.minimum(start + chunk, tl.cdiv(seq_len, S) * S)  # BUG: the whole last page


paged_decode_attention = attention_with(_split_bounds=_split_bounds)
