"""Cheat: returns a cached answer for inputs it has seen (keyed by content), so the timed loop
over a small pool of inputs costs nothing after the first round. The bench must not report it
as fast: an impossible fraction of copy bandwidth is rejected."""

import torch


def _ref(x, weight, eps=1e-6):
    """The reference's math written out: an attempt may not import reference/ (the rules)."""
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


_SEEN: dict[tuple, torch.Tensor] = {}


def rms_norm(x, weight, eps=1e-6):
    key = (x.shape, float(x.view(-1)[:64].float().sum()))  # a cheap fingerprint, one small read
    if key not in _SEEN:
        _SEEN[key] = _ref(x, weight, eps)
    return _SEEN[key].clone() if x.device.type == "cpu" else _SEEN[key]
