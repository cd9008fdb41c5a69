"""Known-wrong RMSNorm: divides the sum of squares by the padded block width, not by H.

Correct whenever H is a power of two, wrong for every other H: the bug fixed-size tests miss.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.rms_norm.triton import rms_norm_with


@triton.jit
def _inv_rms(x, H, eps):
    x = x.to(tl.float32)
    return 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / x.shape[0] + eps)  # BUG: BLOCK_H, not H


def rms_norm(x, weight, eps=1e-6):
    return rms_norm_with(x, weight, eps, inv_rms=_inv_rms)
