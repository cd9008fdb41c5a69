"""Bad attempt: right answer, but normalises x in place first."""

import torch


def _ref(x, weight, eps=1e-6):
    """The reference's math written out: an attempt may not import reference/ (the rules)."""
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


def rms_norm(x, weight, eps=1e-6):
    out = _ref(x, weight, eps)
    x.mul_(0.5)
    return out
