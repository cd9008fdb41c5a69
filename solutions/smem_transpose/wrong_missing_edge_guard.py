"""Known-wrong transpose: no bounds guards (the classic textbook kernel assumes M and N are
multiples of 32). On a ragged edge tile it reads past the rows of x and writes past the rows of
out: wrong values or an illegal address. Layout and PTX are fine: only a GPU rejects it."""

import torch

from solutions.smem_transpose.cupy import SMEM_WORDS, TILE, _transpose, smem_offset
from solutions.smem_transpose.cupy import SOURCE as SOLUTION

SOURCE = SOLUTION.patched(
    "v[k] = (row < M && col < N) ? x[(long long)row * N + col] : 0.0f;",
    "v[k] = x[(long long)row * N + col];  // BUG: no row < M && col < N guard",
).patched("if (orow < N && ocol < M)\n", "")
__all__ = ["SMEM_WORDS", "TILE", "smem_offset", "transpose"]  # the layout is the solution's


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)
