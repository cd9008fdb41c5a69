"""Known-wrong GEMM: loops over K // BK slices, silently dropping the last partial slice of K.
Correct whenever K is a multiple of the slice (64 on the aligned paths, 32 on the fallback);
wrong for K = 1, 31, 40, 72, 129 (the fallback) and K = 16, 136, 1000 (SMALL).
Rejected by: test_matches_fp32_accumulated_reference_on_fixed_cases (GPU)
"""

import torch

from solutions.wmma_gemm.cupy import SOURCE as SOLUTION
from solutions.wmma_gemm.cupy import _matmul

SOURCE = SOLUTION.patched(
    "const int slices = (K + BK - 1) / BK;", "const int slices = K / BK;  // BUG"
)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(SOURCE, a, b)
