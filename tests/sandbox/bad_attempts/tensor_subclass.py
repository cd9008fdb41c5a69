"""Bad attempt: returns a torch.Tensor subclass (a lazy or lying tensor must not pass)."""

import torch

from reference.rms_norm import rms_norm as _ref


class Sneaky(torch.Tensor):
    pass


def rms_norm(x, weight, eps=1e-6):
    return _ref(x, weight, eps).as_subclass(Sneaky)
