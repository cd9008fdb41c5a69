"""Known-wrong transpose: no bounds guards in the kernel (wrong_missing_edge_guard.cu), so only
multiples of 32 come out right. The layout and PTX are fine: it is rejected on a GPU only."""

from pathlib import Path

import torch

from solutions.smem_transpose.cupy import SMEM_WORDS, TILE, _transpose, layout_source, smem_offset

SOURCE = layout_source(Path(__file__).with_name("wrong_missing_edge_guard.cu"), SMEM_WORDS)
__all__ = ["SMEM_WORDS", "TILE", "smem_offset", "transpose"]  # the layout is the solution's


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
