"""Known-wrong transpose: "any odd row stride is conflict-free", so the author picked 31 to save
words. Conflict-free it is, but with a row stride below 32, (r, 31) and (r + 1, 0) are the same
word and overwrite each other: the simulator's injectivity check rejects it on a CPU.
Rejected by: test_layout_is_injective_within_smem_words
"""

import torch

from solutions.smem_transpose.cupy import SOURCE as SOLUTION
from solutions.smem_transpose.cupy import TILE, _transpose, layout_source

SMEM_WORDS = TILE * (TILE - 1) + 1


def smem_offset(row: int, col: int) -> int:
    return row * (TILE - 1) + col  # BUG: rows overlap by one word


SOURCE = layout_source(SOLUTION.path, SMEM_WORDS).patched(
    "return row * (TILE + 1) + col;", "return row * (TILE - 1) + col;  // BUG: rows overlap"
)


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
