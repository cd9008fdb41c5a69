"""Your launcher and tile layout for smem_transpose: attempt.cu holds the kernel.
Write smem_offset here and the same formula in attempt.cu, then run `dojo check smem_transpose`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

TILE = 32  # fixed by the contract: a 32 x 32 tile, one warp per tile row or column
ROWS = 8  # blockDim.y: each thread moves TILE / ROWS = 4 elements
SMEM_WORDS = TILE * TILE  # shared-memory words your layout needs (at most 32 * 33)


def smem_offset(row: int, col: int) -> int:
    """Word offset of tile element (row, col) in shared memory; bank = offset % 32."""
    raise NotImplementedError("write smem_offset (and the same formula in attempt.cu)")


SOURCE = CudaSource(
    Path(__file__).with_name("attempt.cu"), options=(f"-DTILE={TILE}", f"-DSMEM_WORDS={SMEM_WORDS}")
)


def transpose(x: torch.Tensor) -> torch.Tensor:
    SOURCE.check_started()
    M, N = x.shape
    out = torch.empty((N, M), dtype=x.dtype, device=x.device)  # (N, M)
    tiles_n = -(-N // TILE)
    tiles = -(-M // TILE) * tiles_n
    launch(
        SOURCE.kernel("transpose_kernel"),
        (tiles,),
        (TILE, ROWS),
        (x, out, np.int32(M), np.int32(N), np.int32(tiles_n)),
    )
    return out
