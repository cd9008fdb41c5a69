"""Known-wrong GEMM: keeps the running sum in fp16 between k slices (as an fp16 accumulator
fragment would). Fine for small K with mixed signs; off by percents at K = 4096 with
all-positive inputs, where the sum outgrows fp16's 11-bit significand.
Rejected by: test_matches_fp32_accumulated_reference_on_fixed_cases (GPU)
"""

import torch

from solutions.wmma_gemm.cupy import SOURCE as SOLUTION
from solutions.wmma_gemm.cupy import _matmul

MMA = "mma_step(acc, a[s & 1], b[s & 1]);"
ROUND = f"""{MMA}
                if (s == KS - 1) {{  // BUG: the running sum lives in fp16 between slices
#pragma unroll
                    for (int i = 0; i < MI; ++i)
#pragma unroll
                        for (int j = 0; j < NI; ++j)
#pragma unroll
                            for (int e = 0; e < 4; ++e)
                                acc[i][j][e] = __half2float(__float2half(acc[i][j][e]));
                }}"""
SOURCE = SOLUTION.patched(MMA, ROUND)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(SOURCE, a, b)
