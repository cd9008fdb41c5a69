"""Known-wrong warp reduction: assumes x is 16-byte aligned and N a multiple of 4, so the
unaligned head and the N % 4 tail (up to 3 floats each) are never read. Right on every size a
float4 kernel is usually tried on; wrong on N = 1, 31, 1025 and on views like x[1:].
Rejected by: test_matches_float64_sum_on_fixed_cases (GPU)
"""

import torch

from solutions.warp_reduce.cupy import SOURCE as SOLUTION
from solutions.warp_reduce.cupy import _reduce_sum

SOURCE = SOLUTION.patched("    if (tid < head) a0 += x[tid];\n", "").patched(
    "    for (long long t = head + 4 * n4 + tid; t < n; t += stride) a1 += x[t];", ""
)


def reduce_sum(x: torch.Tensor) -> torch.Tensor:
    return _reduce_sum(SOURCE, x)
