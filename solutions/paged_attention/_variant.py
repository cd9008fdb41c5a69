"""For the wrong_*.py variants: the solution's kernels rebuilt with one @triton.jit helper
swapped for the variant's, and an entry point that launches them, so each variant file holds
only its bug."""

from __future__ import annotations

import types
from collections.abc import Callable

import triton

from solutions.paged_attention import triton as solution


def _rebuilt(kernel, helpers: dict) -> object:
    """The same kernel source compiled against the solution's globals with `helpers` replaced:
    Triton resolves the functions a kernel calls by name in its function's globals."""
    fn = kernel.fn
    scope = {**fn.__globals__, **helpers}
    return triton.jit(types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__))


def attention_with(**helpers: Callable) -> Callable:
    """paged_decode_attention with the named helpers (e.g. _token_rows=...) swapped in."""
    split = _rebuilt(solution._split_kernel, helpers)
    combine = _rebuilt(solution._combine_kernel, helpers)

    def paged_decode_attention(q, k_cache, v_cache, block_tables, seq_lens, scale):
        return solution.attend(
            q, k_cache, v_cache, block_tables, seq_lens, scale, split_kernel=split,
            combine_kernel=combine,
        )  # fmt: skip

    return paged_decode_attention
