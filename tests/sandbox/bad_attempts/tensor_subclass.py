"""Bad attempt: returns a torch.Tensor subclass (a lazy or lying tensor must not pass)."""

import torch


def _ref(x, weight, eps=1e-6):
    """The reference's math written out: an attempt may not import reference/ (the rules)."""
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


class Sneaky(torch.Tensor):
    pass


def rms_norm(x, weight, eps=1e-6):
    return _ref(x, weight, eps).as_subclass(Sneaky)
