"""Known-wrong warp reduction: its intra-warp step goes through shared memory (PTX rule)."""

from pathlib import Path

import torch

from grader.cuda import CudaSource
from solutions.warp_reduce.cupy import _reduce_sum

SOURCE = CudaSource(Path(__file__).with_name("wrong_shared_memory_warp_step.cu"))


def reduce_sum(x: torch.Tensor) -> torch.Tensor:
    return _reduce_sum(SOURCE, x)
