"""online_softmax's peers: the ATen op, torch.compile of the reference, Liger-Kernel's Triton
softmax. Each is called like `softmax(x)`; `dojo bench online_softmax --peers` checks every one
on the bench inputs and times it beside your kernel (problem.toml [peers] declares them)."""

from __future__ import annotations

import functools

import torch

from reference.online_softmax import softmax


def torch_softmax(x: torch.Tensor) -> torch.Tensor:
    # one ATen kernel: fp32 math for half inputs, rounded once, like the reference
    return torch.softmax(x, dim=-1)  # (M, N)


def compiled_reference(x: torch.Tensor) -> torch.Tensor:
    # Inductor fuses the upcast, max, exp, sum and downcast of the reference into one kernel
    return _compiled()(x)  # (M, N)


def liger(x: torch.Tensor) -> torch.Tensor:
    from liger_kernel.ops.softmax import LigerSoftmaxFunction  # an optional extra

    return LigerSoftmaxFunction.apply(x)  # (M, N)


@functools.cache
def _compiled():
    """Dynamo is imported and the code compiled only when this peer runs, at its first call
    (outside the timed samples): the other peers' workers do not pay for it."""
    return torch.compile(softmax, dynamic=False)
