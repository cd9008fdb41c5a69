"""The worker's timed sample reads inputs from its own memory: what CUDA IPC mapped in from the
harness is copied first (grader.harness.crossing.own_memory). Skipped without a CUDA GPU."""

from __future__ import annotations

import pytest
import torch

from grader.harness.crossing import own_memory

pytestmark = pytest.mark.gpu


def test_cuda_inputs_are_copied_with_their_strides_and_values():
    base = torch.randn(64, 48, device="cuda")
    t = base.t()  # a transposed view: strides (1, 48)
    cpu = torch.arange(5)
    args, kwargs = own_memory((base, [t, 3])), own_memory({"x": t, "n": 7, "c": cpu})
    for got, want in ((args[0], base), (args[1][0], t), (kwargs["x"], t)):
        assert got.stride() == want.stride() and got.dtype == want.dtype
        assert torch.equal(got, want)
        assert got.untyped_storage().data_ptr() != want.untyped_storage().data_ptr()
    assert args[1][1] == 3 and kwargs["n"] == 7
    assert kwargs["c"] is cpu  # CPU tensors already live in this process (shared memory)
