"""Known-wrong GEMM: always takes a cp.async kernel (SMALL), which moves 16-byte chunks. When K
or N is not a multiple of 8 (or a base pointer is not 16-byte aligned) the chunks straddle
rows or hit misaligned addresses: wrong values, or a CUDA 'misaligned address' fault (at
M, N, K = 15, 17, 31, A's second row starts 62 bytes in).
Rejected by: test_matches_fp32_accumulated_reference_on_fixed_cases (GPU, crashed)
"""

import torch

from solutions.wmma_gemm.cupy import SMALL, SOURCE, _matmul


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(SOURCE, a, b, kernel=SMALL)  # BUG: no alignment test
