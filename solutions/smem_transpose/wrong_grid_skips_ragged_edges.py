"""Known-wrong transpose: the launcher sizes the grid with M // 32 and N // 32 (the textbook
kernel assumes multiples of 32), so the ragged last row and column of tiles are never
launched and those outputs are never written. Layout and PTX are fine: only a GPU rejects it,
on every shape that is not a multiple of 32 (M = N = 1 launches nothing at all).
Rejected by: test_matches_reference_exactly_on_fixed_cases (GPU)
"""

import numpy as np
import torch

from grader.runtime.cuda import launch
from solutions.smem_transpose.cupy import ROWS, SMEM_WORDS, SOURCE, TILE, smem_offset

__all__ = ["SMEM_WORDS", "TILE", "smem_offset", "transpose"]  # the layout is the solution's


def transpose(x: torch.Tensor) -> torch.Tensor:
    M, N = x.shape
    out = torch.empty((N, M), dtype=x.dtype, device=x.device)  # (N, M)
    tiles_n = N // TILE  # BUG: floor, not ceil
    tiles = (M // TILE) * tiles_n
    if tiles:
        args = (x, out, np.int32(M), np.int32(N), np.int32(max(tiles_n, 1)))
        launch(SOURCE.kernel("transpose_kernel"), (tiles,), (TILE, ROWS), args)
    return out
