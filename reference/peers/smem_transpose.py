"""smem_transpose's peers: x.t().contiguous() (ATen's copy kernel) and torch.compile of the
reference (an Inductor-generated tiled copy). Called like `transpose(x)`; `dojo bench
smem_transpose --peers` checks each bit for bit and times it beside yours."""

from __future__ import annotations

import functools

import torch

from reference.smem_transpose import transpose


def torch_transpose(x: torch.Tensor) -> torch.Tensor:
    # what people write; for a (1, N) or (M, 1) x it returns x itself viewed, which the checks
    # reject as an aliased output: the reference clones for that reason
    return x.t().contiguous()  # (N, M)


def compiled_reference(x: torch.Tensor) -> torch.Tensor:
    return _compiled()(x)  # (N, M)


@functools.cache
def _compiled():
    """Dynamo is imported and the code compiled only when this peer runs, at its first call
    (outside the timed samples): the other peers' workers do not pay for it."""
    return torch.compile(transpose, dynamic=False)
