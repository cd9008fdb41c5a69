"""rms_norm's peers: F.rms_norm, torch.compile of the reference, Liger-Kernel's RMSNorm in its
Llama casting mode (the reference's semantics). Each is called like `rms_norm(x, weight, eps)`;
`dojo bench rms_norm --peers` checks every one on the bench inputs and times it beside yours."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from reference.rms_norm import rms_norm


def torch_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    # ATen's op rounds once at the end, where Llama rounds before the weight: within tolerance
    return F.rms_norm(x, (x.shape[-1],), weight, eps)  # (..., H)


def compiled_reference(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return _compiled()(x, weight, eps)  # (..., H) one fused read of x, one write


def liger(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    from liger_kernel.ops.rms_norm import LigerRMSNormFunction  # an optional extra

    # its defaults: offset 0 and "llama" casting (fp32 statistics, cast before the weight)
    return LigerRMSNormFunction.apply(x, weight, eps)  # (..., H)


@functools.cache
def _compiled():
    """Dynamo is imported and the code compiled only when this peer runs, at its first call
    (outside the timed samples): the other peers' workers do not pay for it."""
    return torch.compile(rms_norm, dynamic=False)
