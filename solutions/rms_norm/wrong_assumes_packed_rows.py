"""Known-wrong RMSNorm: the kernel steps from row to row by H instead of by x's row stride, so
the rows of a view such as big[:, :H] (contiguous in the last dimension, as the statement
allows) are read from the wrong place; packed inputs are unaffected.

Rejected by: test_reads_the_rows_of_a_view_at_their_stride
"""

from __future__ import annotations

import torch

from solutions.rms_norm import triton as _solution


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    packed = [1] * x.dim()
    for d in range(x.dim() - 2, -1, -1):
        packed[d] = packed[d + 1] * x.shape[d + 1]
    # BUG: what a kernel reads when it uses H as the row stride: rows packed from x's start
    as_if_packed = x.as_strided(x.shape, packed, x.storage_offset())
    return _solution.rms_norm(as_if_packed, weight, eps)
