"""Bad attempt: right values, written into one module-level buffer reused by every call."""

import torch

from reference.rms_norm import rms_norm as _ref

_OUT: dict[tuple, torch.Tensor] = {}


def rms_norm(x, weight, eps=1e-6):
    key = (tuple(x.shape), x.dtype, x.device)
    if key not in _OUT:
        _OUT[key] = torch.empty_like(x)
    return _OUT[key].copy_(_ref(x, weight, eps))
