"""Cheat at rms_norm: F.rms_norm looked up by a name built at run time, which no reading of
the source can resolve. The worker's TorchFunctionMode sees the call and names the line."""

import torch

_OP = getattr(torch.nn.functional, "rms" + "_norm")


def rms_norm(x, weight, eps=1e-6):
    y = _OP(x.float(), (x.shape[-1],), weight.float(), eps)
    return y.to(x.dtype)
