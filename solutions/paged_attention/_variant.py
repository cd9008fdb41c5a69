"""For the wrong_*.py variants: the solution's kernels with one @triton.jit step swapped for the
variant's (the kernels take their steps as constexpr arguments), so each variant file holds only
its bug."""

from __future__ import annotations

from collections.abc import Callable

from solutions.paged_attention import triton as solution


def attention_with(**helpers: Callable) -> Callable:
    """paged_decode_attention with the named steps (e.g. _token_rows=...) swapped in."""
    unknown = set(helpers) - set(solution.HELPERS)
    assert not unknown, f"no step named {sorted(unknown)} in the solution's kernels"

    def paged_decode_attention(q, k_cache, v_cache, block_tables, seq_lens, scale):
        return solution.attend(q, k_cache, v_cache, block_tables, seq_lens, scale, helpers)

    return paged_decode_attention
