"""online_softmax's peers: the ATen op, torch.compile of the reference, Liger-Kernel's Triton
softmax. Each is called like `softmax(x)`; `dojo bench online_softmax --peers` checks every one
on the bench inputs and times it beside your kernel (problem.toml [peers] declares them)."""

from __future__ import annotations

import torch

from reference.online_softmax import softmax

# lazy: Inductor compiles at the first call (outside the timed samples), once per shape
_compiled = torch.compile(softmax, dynamic=False)


def torch_softmax(x: torch.Tensor) -> torch.Tensor:
    # one ATen kernel: fp32 math for half inputs, rounded once, like the reference
    return torch.softmax(x, dim=-1)  # (M, N)


def compiled_reference(x: torch.Tensor) -> torch.Tensor:
    # Inductor fuses the upcast, max, exp, sum and downcast of the reference into one kernel
    return _compiled(x)  # (M, N)


def liger(x: torch.Tensor) -> torch.Tensor:
    from liger_kernel.ops.softmax import LigerSoftmaxFunction  # an optional extra

    return LigerSoftmaxFunction.apply(x)  # (M, N)
