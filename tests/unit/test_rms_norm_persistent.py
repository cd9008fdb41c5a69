"""rms_norm's persistent launch (PERSISTENT programs per SM, each looping over rows with the next
row's load in flight; off until timed) against the reference, in the Triton interpreter (on
the GPU where there is one): every row normalised once, none skipped, the eps placement bug
still caught through it."""

from __future__ import annotations

from unittest.mock import patch

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.hooks import hooks_for
from grader.problem.registry import get_problem
from reference import rms_norm as ref
from solutions.rms_norm import triton as sol
from solutions.rms_norm import wrong_eps_outside_sqrt as wrong

HOOKS = hooks_for(get_problem("rms_norm"))
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# the Triton interpreter does bf16 arithmetic on raw bits (problem.toml untrusted_dtypes): GPU
DTYPES = ["float32", "float16"] + (["bfloat16"] if DEVICE == "cuda" else [])


def persistent():
    """2 programs per SM (8 in the interpreter: each loops over rows)."""
    return patch.multiple(sol, PERSISTENT=2)


def inputs(rows: int, H: int, dtype: str, values: str, seed: int) -> dict:
    case = {"rows": rows, "H": H, "dtype": dtype, "values": values}
    return ref.make_inputs(case, torch.Generator(DEVICE).manual_seed(seed))


@given(
    rows=st.integers(0, 37),
    H=st.integers(1, 300),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_every_row_is_normalised_once(rows, H, dtype, seed):
    x = inputs(rows, H, dtype, "normal", seed)
    with persistent():
        HOOKS.compare(sol.rms_norm(**x), ref.rms_norm(**x), x)


def test_the_eps_bug_is_still_caught():
    x = inputs(19, 128, "float32", "tiny", 0)
    with persistent():
        with pytest.raises(AssertionError):
            HOOKS.compare(wrong.rms_norm(**x), ref.rms_norm(**x), x)
        HOOKS.compare(sol.rms_norm(**x), ref.rms_norm(**x), x)
