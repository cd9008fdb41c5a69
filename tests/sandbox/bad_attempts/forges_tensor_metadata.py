"""Cheat: re-registers how a tensor is pickled in its own process, so its output crosses the wire
as a view of the harness's own input storage claiming a size beyond it (the harness, rebuilding
it, resized and overran its own segment: a segfault, blamed on the grader). The harness must
refuse a tensor that does not fit its storage, as the implementation's failure. CPU tensors
cross as shared memory (rebuild_tensor), CUDA tensors as IPC handles (rebuild_cuda_tensor):
both are forged."""

from multiprocessing.reduction import ForkingPickler

import torch
from torch.multiprocessing import reductions

_inputs = []
BIG = torch.Size([1 << 28])


def _forged(tensor):
    rebuild, args = reductions.reduce_tensor(_inputs[-1])
    if rebuild.__name__ == "rebuild_tensor":
        cls, storage, (offset, size, stride, grad) = args
        return rebuild, (cls, storage, (offset, BIG, (1,), grad))
    cls, size, stride, offset, *rest = args  # rebuild_cuda_tensor
    return rebuild, (cls, BIG, (1,), offset, *rest)


ForkingPickler.register(torch.Tensor, _forged)


def rms_norm(x, weight, eps=1e-6):
    _inputs.append(x)
    return torch.empty_like(x)
