"""Cheat: does the work on a side stream and returns before it finishes, so CUDA events on the
current stream see almost nothing. The device-wide sync makes the outputs right; the host-clock
cross-check must flag the hidden work."""

import torch


def _ref(x, weight, eps=1e-6):
    """The reference's math written out: an attempt may not import reference/ (the rules)."""
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


_SIDE: list[torch.cuda.Stream] = []


def rms_norm(x, weight, eps=1e-6):
    if not _SIDE:
        _SIDE.append(torch.cuda.Stream())
    with torch.cuda.stream(_SIDE[0]):
        out = _ref(x, weight, eps)
        for _ in range(3):  # enough work to be visible to the host clock
            out = _ref(out, torch.ones_like(weight), 0.0) * 0 + out
    return out
