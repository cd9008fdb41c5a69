"""Known-wrong warp reduction: drops the unaligned head and the N % 4 tail (wrong_missing_tail.cu)."""

from pathlib import Path

import torch

from grader.cuda import CudaSource
from solutions.warp_reduce.cupy import _reduce_sum

SOURCE = CudaSource(Path(__file__).with_name("wrong_missing_tail.cu"))


def reduce_sum(x: torch.Tensor) -> torch.Tensor:
    return _reduce_sum(SOURCE, x)
