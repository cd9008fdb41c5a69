"""Known-wrong transpose: tile rows 31 words apart (wrong_stride_31_not_injective.cu), so the
last word of each row is the first of the next; the simulator's injectivity check rejects it."""

from pathlib import Path

import torch

from solutions.smem_transpose.cupy import _transpose, layout_source

TILE = 32
SMEM_WORDS = 31 * 31 + 32  # 993: the largest offset is 31 * 31 + 31


def smem_offset(row: int, col: int) -> int:
    return row * (TILE - 1) + col  # BUG: (r, 31) and (r + 1, 0) share a word


SOURCE = layout_source(Path(__file__).with_name("wrong_stride_31_not_injective.cu"), SMEM_WORDS)


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
