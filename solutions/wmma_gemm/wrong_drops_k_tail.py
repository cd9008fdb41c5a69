"""Known-wrong GEMM: loops over K // BK slices, silently dropping the last partial slice of K.
Correct whenever K is a multiple of 32; wrong for K = 31, 72, 129, 1000.
Rejected by: test_matches_fp32_accumulated_reference_on_fixed_cases (GPU)
"""

import torch

from solutions.wmma_gemm.cupy import SOURCE as SOLUTION
from solutions.wmma_gemm.cupy import _matmul

SOURCE = SOLUTION.patched("const int KT = (K + BK - 1) / BK;", "const int KT = K / BK;  // BUG")


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(SOURCE, a, b)
