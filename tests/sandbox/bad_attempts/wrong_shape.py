"""Bad attempt: returns the right values flattened to 1-D."""

from reference.rms_norm import rms_norm as _ref


def rms_norm(x, weight, eps=1e-6):
    return _ref(x, weight, eps).flatten()
