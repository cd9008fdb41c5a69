"""Cheat: re-registers how a tensor is pickled in its own process, so its output crosses the wire
as a view of the harness's own input storage claiming a size beyond it (the harness, rebuilding
it, resized and overran its own segment: a segfault, blamed on the grader). The harness must
refuse a tensor that does not fit its storage, as the implementation's failure."""

from multiprocessing.reduction import ForkingPickler

import torch
from torch.multiprocessing import reductions

_inputs = []


def _forged(tensor):
    rebuild, (cls, storage, (offset, size, stride, grad)) = reductions.reduce_tensor(_inputs[-1])
    return rebuild, (cls, storage, (offset, torch.Size([1 << 20]), (1,), grad))


ForkingPickler.register(torch.Tensor, _forged)


def rms_norm(x, weight, eps=1e-6):
    _inputs.append(x)
    return torch.empty_like(x)
