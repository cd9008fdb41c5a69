"""GPU only: a correct transpose launched on a 2-D grid, gridDim.y = ceil(M / 32). Right until
M passes 2,097,120 rows, where gridDim.y passes CUDA's 65,535 and the driver would say only
CUDA_ERROR_INVALID_VALUE; the grader must name the limit (problem.toml's cases of 2.1M rows)."""

from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

TILE = 32
ROWS = 8
SMEM_WORDS = TILE * (TILE + 1)
SOURCE = CudaSource(
    Path(__file__).with_name("grid_2d_transpose.cu"),
    options=(f"-DTILE={TILE}", f"-DSMEM_WORDS={SMEM_WORDS}"),
)


def smem_offset(row: int, col: int) -> int:
    return row * (TILE + 1) + col


def transpose(x: torch.Tensor) -> torch.Tensor:
    M, N = x.shape
    out = torch.empty((N, M), dtype=x.dtype, device=x.device)  # (N, M)
    grid = (-(-N // TILE), -(-M // TILE))  # (tile columns, tile rows): y is the one that grows
    launch(SOURCE.kernel("transpose_kernel"), grid, (TILE, ROWS),
           (x, out, np.int32(M), np.int32(N), np.int32(grid[0])))  # fmt: skip
    return out
