"""Bad attempt: right values except NaN in the last column."""

from reference.rms_norm import rms_norm as _ref


def rms_norm(x, weight, eps=1e-6):
    out = _ref(x, weight, eps)
    out[..., -1] = float("nan")
    return out
