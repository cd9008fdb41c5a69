"""Known-wrong RMSNorm: x / (sqrt(mean(x^2)) + eps) instead of x * rsqrt(mean(x^2) + eps).

Indistinguishable on unit-scale data; badly wrong when mean(x^2) is near or below eps.
Rejected by: test_matches_reference_on_fixed_cases
"""

import triton
import triton.language as tl

from solutions.rms_norm.triton import rms_norm_with


@triton.jit
def _inv_rms(x, H, eps):
    x = x.to(tl.float32)
    return 1.0 / (tl.sqrt(tl.sum(x * x, axis=0) / H) + eps)  # BUG: eps outside the sqrt


def rms_norm(x, weight, eps=1e-6):
    return rms_norm_with(x, weight, eps, inv_rms=_inv_rms)
