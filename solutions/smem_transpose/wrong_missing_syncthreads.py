"""Known-wrong transpose: no barrier between filling the tile and reading it back. Each warp
reads tile columns the other warps write, so it may read entries before they are stored: a
race whose outcome depends on scheduling. Every __syncthreads() of the .cu goes (the scalar
kernel's, the float4 kernel's, and the persistent kernel's two), so no kernel the launcher can
pick is left correct by accident. The PTX rule (a barrier between the phases) rejects it on a
CPU, whatever a GPU happens to do.
Rejected by: test_ptx_follows_static_rule
"""

import torch

from solutions.smem_transpose.cupy import SMEM_WORDS, TILE, _transpose, smem_offset
from solutions.smem_transpose.cupy import SOURCE as SOLUTION

SOURCE = SOLUTION.patched("__syncthreads();", "/* BUG: no __syncthreads() */")
__all__ = ["SMEM_WORDS", "TILE", "smem_offset", "transpose"]  # the layout is the solution's


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
