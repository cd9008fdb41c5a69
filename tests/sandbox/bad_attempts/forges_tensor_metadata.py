"""Cheat: re-registers how a tensor is pickled in its own process, so its output crosses the wire
as a view of the harness's own input storage claiming a size beyond it (the harness, rebuilding
it, resized and overran its own segment: a segfault, blamed on the grader). The harness must
refuse a tensor that does not fit its storage, as the implementation's failure. CPU tensors
cross as shared memory (rebuild_tensor), CUDA tensors as IPC handles (rebuild_cuda_tensor):
both are forged, a CUDA one over its own output's allocation (torch refuses to send one it
received, so the harness's input is out of reach there)."""

from multiprocessing.reduction import ForkingPickler

import torch
from torch.multiprocessing import reductions

_inputs = []
BIG = torch.Size([1 << 28])


def _forged(tensor):
    if not tensor.is_cuda:  # over the harness's own input segment
        rebuild, (cls, storage, (offset, _, _, grad)) = reductions.reduce_tensor(_inputs[-1])
        return rebuild, (cls, storage, (offset, BIG, (1,), grad))
    # torch will not send a CUDA tensor it received, so over this output's own allocation
    rebuild, (cls, _, _, offset, *rest) = reductions.reduce_tensor(tensor)
    return rebuild, (cls, BIG, (1,), offset, *rest)


ForkingPickler.register(torch.Tensor, _forged)


def rms_norm(x, weight, eps=1e-6):
    _inputs.append(x)
    return torch.empty_like(x)
