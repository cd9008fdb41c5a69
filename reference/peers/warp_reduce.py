"""warp_reduce's peer: torch.sum, one ATen reduction with fp32 accumulation. Called like
`reduce_sum(x)`; `dojo bench warp_reduce --peers` checks it and times it beside yours."""

from __future__ import annotations

import torch


def torch_sum(x: torch.Tensor) -> torch.Tensor:
    # read 4N bytes once; ATen's tree of fp32 partial sums is well inside the tolerance
    return torch.sum(x)  # () float32
