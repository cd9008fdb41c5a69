"""Bad attempt: right answer, but normalises x in place first."""

from reference.rms_norm import rms_norm as _ref


def rms_norm(x, weight, eps=1e-6):
    out = _ref(x, weight, eps)
    x.mul_(0.5)
    return out
