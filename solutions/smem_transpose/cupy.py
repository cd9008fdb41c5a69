"""Tiled matrix transpose in CUDA C through a bank-conflict-free shared-memory tile, via CuPy.

Idea: a block of (32, 8) threads moves one 32 x 32 tile. Its warps read rows of x (coalesced
128-byte lines) into shared memory, synchronise, and read the tile back down its columns to
write rows of out (coalesced again). Global memory only ever sees whole lines; the transpose
itself happens in shared memory, where a column read would put all 32 lanes in one bank
(32 wavefronts) unless each tile row is padded by one word, which spreads a column over all
32 banks. smem_offset() below is that layout; smem_transpose.cu implements the same formula
and is compiled with this module's TILE and SMEM_WORDS.
Memory traffic: read M*N floats, write M*N floats, once each (8MN bytes), the minimum.
Limits: float32, contiguous x, M and N below 2^31; scalar 4-byte accesses (no float4).
Run it: `dojo check smem_transpose --impl solution` (layout and PTX checks on CPU; values
need a GPU), `dojo bench smem_transpose --impl solution`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

TILE = 32
ROWS = 8  # blockDim.y; must match ROWS in the .cu
SMEM_WORDS = TILE * (TILE + 1)  # 1056 words (4224 bytes): the tile plus one pad word per row


def smem_offset(row: int, col: int) -> int:
    """Word offset of tile element (row, col): rows are TILE + 1 words apart."""
    return row * (TILE + 1) + col


def layout_source(path: Path, smem_words: int) -> CudaSource:
    """A .cu compiled with the module's tile size and shared-memory words as macros."""
    return CudaSource(path, options=(f"-DTILE={TILE}", f"-DSMEM_WORDS={smem_words}"))


SOURCE = layout_source(Path(__file__).with_name("smem_transpose.cu"), SMEM_WORDS)


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)


def _transpose(source: CudaSource, x: torch.Tensor) -> torch.Tensor:
    if not (x.is_cuda and x.dtype == torch.float32 and x.dim() == 2):
        raise ValueError(
            f"x must be a 2-D float32 CUDA tensor, got {tuple(x.shape)} {x.dtype} on {x.device}"
        )
    if not x.is_contiguous():  # the kernel indexes x as row-major with row stride N
        raise ValueError(f"x must be contiguous, got strides {x.stride()}: pass x.contiguous()")
    M, N = x.shape
    if max(M, N) >= 2**31:
        raise ValueError(f"M and N must be below 2^31, got ({M}, {N})")
    out = torch.empty((N, M), dtype=x.dtype, device=x.device)  # (N, M)
    tiles_n = -(-N // TILE)
    tiles = -(-M // TILE) * tiles_n  # one block per 32 x 32 tile, ragged edge tiles included
    launch(
        source.kernel("transpose_kernel"),
        (tiles,),
        (TILE, ROWS),
        (x, out, np.int32(M), np.int32(N), np.int32(tiles_n)),
    )
    return out
