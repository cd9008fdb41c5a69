"""CUDA's launch limits, named before the driver says only 'invalid argument' (issue 8: a grid
with gridDim.y > 65535 for M = 2,100,003 surfaced as CUDA_ERROR_INVALID_VALUE, no hint). No
GPU needed: the check runs before CuPy is imported."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.faults import compiler_aware_line
from grader.runtime.cuda import BLOCK_LIMITS, GRID_LIMITS, check_launch, launch

DIM = st.integers(1, 2**32)


@given(
    grid=st.lists(DIM, min_size=1, max_size=3),
    block=st.lists(st.integers(1, 2048), min_size=1, max_size=3),
)
def test_a_launch_is_refused_exactly_when_it_breaks_a_limit(grid, block):
    over = any(d > lim for d, lim in zip(grid, GRID_LIMITS)) or any(
        d > lim for d, lim in zip(block, BLOCK_LIMITS)
    )
    over = over or int(np.prod(block)) > 1024
    if over:
        with pytest.raises(ValueError, match="CUDA"):
            check_launch(tuple(grid), tuple(block))
    else:
        check_launch(tuple(grid), tuple(block))


@pytest.mark.parametrize(
    ("grid", "block", "words"),
    [
        ((10, 65_625), (32,), "gridDim.y = 65,625 is over CUDA's limit of 65,535"),
        ((2**31,), (256,), "gridDim.x = 2,147,483,648 is over CUDA's limit of 2,147,483,647"),
        ((1,), (33, 33), "has 1,089 threads; CUDA allows 1,024"),
        ((1,), (1, 1, 65), "blockDim.z = 65 is over CUDA's limit of 64"),
        ((0,), (32,), "give 1 to 3 positive ints"),
        ((1, 1, 1, 1), (32,), "give 1 to 3 positive ints"),
        ((2.0,), (32,), "give 1 to 3 positive ints"),
    ],
)
def test_the_message_names_the_limit(grid, block, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        launch(None, grid, block, ())


def test_numpy_ints_are_dimensions_too():
    check_launch((np.int64(5), np.int32(3)), (np.int64(32), 8))


def test_a_driver_invalid_argument_is_told_with_the_limits():
    """Triton launches skip check_launch: the driver's bare 'invalid argument' gets the limits."""
    line = compiler_aware_line(RuntimeError("Triton Error [CUDA]: invalid argument"))
    assert line.startswith("RuntimeError: Triton Error [CUDA]: invalid argument")
    assert "gridDim.y and gridDim.z <= 65535" in line and "1024 threads per block" in line
    assert "65535" not in compiler_aware_line(RuntimeError("index out of range"))
