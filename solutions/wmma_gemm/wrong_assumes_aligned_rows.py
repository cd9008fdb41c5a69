"""Known-wrong GEMM: always takes the cp.async fast path, which moves 16-byte chunks. When K
or N is not a multiple of 8 (or a base pointer is not 16-byte aligned) the chunks straddle
rows or hit misaligned addresses: wrong values, or a CUDA 'misaligned address' fault.
Rejected by: test_matches_fp32_accumulated_reference_on_fixed_cases (GPU, crashed)
"""

import torch

from solutions.wmma_gemm.cupy import SMALL, SOURCE, _matmul


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(SOURCE, a, b, kernel=SMALL)  # BUG: no alignment test
