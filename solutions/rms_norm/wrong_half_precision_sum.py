"""Known-wrong RMSNorm: accumulates the squares in the input dtype instead of fp32.

fp16 squares overflow for |x| > 256 and a 4096-term fp16 sum loses ~3 decimal digits.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.rms_norm.triton import rms_norm_with


@triton.jit
def _inv_rms(x, H, eps):
    mean_sq = tl.sum(x * x, axis=0).to(tl.float32) / H  # BUG: squares and sum in x.dtype
    return 1.0 / tl.sqrt(mean_sq + eps)


def rms_norm(x, weight, eps=1e-6):
    return rms_norm_with(x, weight, eps, inv_rms=_inv_rms)
