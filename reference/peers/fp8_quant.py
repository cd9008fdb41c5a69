"""fp8_quant's peers: the reference as PyTorch eager runs it (a handful of ATen kernels, each a
pass over memory) and torch.compile of it (Inductor fuses them). Called like `quant_fp8(x,
group_size)`; `dojo bench fp8_quant --peers` checks both and times them beside yours."""

from __future__ import annotations

import functools

import torch

from reference.fp8_quant import quant_fp8


def eager_reference(x: torch.Tensor, group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    # upcast, abs, amax, divide, clamp, cast: each eager op reads and writes (T, H) again
    return quant_fp8(x, group_size)  # (T, H) e4m3 codes, (T, H / group) fp32 scales


def compiled_reference(x: torch.Tensor, group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    return _compiled()(x, group_size)


@functools.cache
def _compiled():
    """Dynamo is imported and the code compiled only when this peer runs, at its first call
    (outside the timed samples): the other peers' workers do not pay for it."""
    return torch.compile(quant_fp8, dynamic=False)
