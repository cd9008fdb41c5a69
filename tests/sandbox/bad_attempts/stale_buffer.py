"""Bad attempt: right values, written into one module-level buffer reused by every call."""

import torch


def _ref(x, weight, eps=1e-6):
    """The reference's math written out: an attempt may not import reference/ (the rules)."""
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


_OUT: dict[tuple, torch.Tensor] = {}


def rms_norm(x, weight, eps=1e-6):
    key = (tuple(x.shape), x.dtype, x.device)
    if key not in _OUT:
        _OUT[key] = torch.empty_like(x)
    return _OUT[key].copy_(_ref(x, weight, eps))
