"""Bad attempt: returns the right values flattened to 1-D."""

import torch


def _ref(x, weight, eps=1e-6):
    """The reference's math written out: an attempt may not import reference/ (the rules)."""
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


def rms_norm(x, weight, eps=1e-6):
    return _ref(x, weight, eps).flatten()
