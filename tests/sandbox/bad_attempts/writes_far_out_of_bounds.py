"""GPU only: a correct transpose whose kernel also writes one float 4 TB past `out`: an illegal
memory access on every call. The verdict must be crashed, naming the check and the
compute-sanitizer command that finds the access, never an internal error of the grader."""

import os
from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

TILE = 32
ROWS = 8
SMEM_WORDS = TILE * (TILE + 1)
FAR = os.environ.get("DOJO_PROBE_FAR_WRITE", "(1LL << 40)")  # elements past out: 4 TB
SOURCE = CudaSource(
    Path(__file__).with_name("grid_2d_transpose.cu"),
    options=(f"-DTILE={TILE}", f"-DSMEM_WORDS={SMEM_WORDS}", f"-DFAR_WRITE={FAR}"),
)


def smem_offset(row: int, col: int) -> int:
    return row * (TILE + 1) + col


def transpose(x: torch.Tensor) -> torch.Tensor:
    M, N = x.shape
    out = torch.empty((N, M), dtype=x.dtype, device=x.device)  # (N, M)
    grid = (-(-N // TILE), -(-M // TILE))
    launch(SOURCE.kernel("transpose_kernel"), grid, (TILE, ROWS),
           (x, out, np.int32(M), np.int32(N), np.int32(grid[0])))  # fmt: skip
    return out
