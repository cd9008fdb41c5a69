"""Known-wrong transpose: an unpadded 32 x 32 tile (wrong_unpadded_tile.cu). The values are right;
every column read is a 32-way bank conflict, which the simulator rejects on a CPU."""

from pathlib import Path

import torch

from solutions.smem_transpose.cupy import _transpose, layout_source

TILE = 32
SMEM_WORDS = TILE * TILE


def smem_offset(row: int, col: int) -> int:
    return row * TILE + col  # BUG: tile column c is entirely in bank c


SOURCE = layout_source(Path(__file__).with_name("wrong_unpadded_tile.cu"), SMEM_WORDS)


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
