"""Known-wrong transpose: an unpadded 32 x 32 tile. The values are right, but every column read
of the tile puts all 32 lanes in one bank (32 wavefronts instead of 1): the bank simulator
rejects the layout on a CPU, and ncu counts 31 extra wavefronts per column load on a GPU.
Rejected by: test_layout_has_no_bank_conflicts_in_the_simulator
"""

import torch

from solutions.smem_transpose.cupy import SOURCE as SOLUTION
from solutions.smem_transpose.cupy import TILE, _transpose, layout_source

SMEM_WORDS = TILE * TILE


def smem_offset(row: int, col: int) -> int:
    return row * TILE + col  # BUG: tile column c is words l*32 + c, all in bank c


SOURCE = layout_source(SOLUTION.path, SMEM_WORDS).patched(
    "return row * (TILE + 1) + col;", "return row * TILE + col;  // BUG: no pad word"
)


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
