"""Known-wrong transpose: no __syncthreads() between writing and reading the tile
(wrong_missing_syncthreads.cu), a race; the PTX rule that asks for a barrier rejects it."""

from pathlib import Path

import torch

from solutions.smem_transpose.cupy import SMEM_WORDS, TILE, _transpose, layout_source, smem_offset

SOURCE = layout_source(Path(__file__).with_name("wrong_missing_syncthreads.cu"), SMEM_WORDS)
__all__ = ["SMEM_WORDS", "TILE", "smem_offset", "transpose"]  # the layout is the solution's


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
