"""Bad attempt: returns a tensor with no storage (the meta device)."""

from reference.rms_norm import rms_norm as _ref


def rms_norm(x, weight, eps=1e-6):
    return _ref(x, weight, eps).to("meta")
