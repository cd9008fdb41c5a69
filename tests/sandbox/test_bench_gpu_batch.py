"""The GPU bench's timed batch (grader.perf.bench_gpu), run here on the CPU through real workers:
every output is checked, an attempt that answers before its calls are done is caught by the
inputs the harness overwrites after the reply, and one that computes when the batch is staged
computes on empty buffers. (On a GPU: scripts/gpu_redteam.sh bench.)"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest
import torch

from grader.harness.hooks import hooks_for
from grader.perf import bench, bench_gpu
from grader.problem.registry import get_problem

BAD = Path(__file__).parent / "bad_attempts"
CASE = {"rows": 64, "H": 512, "dtype": "float32"}


def _batch(impl: str, k: int = 6) -> float:
    problem = get_problem("rms_norm")
    root, ref = problem.path.parent.parent, importlib.import_module("reference.rms_norm")

    def inputs(i: int) -> dict:
        return ref.make_inputs(CASE, torch.Generator().manual_seed(1234 + i))

    with bench._opened(problem, "reference", root) as base:
        with bench._opened(problem, impl, root) as it:
            call = bench.Call(it, base, ("bench_target", "gpu"), "rms_norm", hooks_for(problem))
            return bench_gpu.run_batch(call, inputs, k, 0)


def test_an_honest_batch_gives_a_time_per_call():
    ms = _batch("reference")
    assert 0 < ms < 1e3 and math.isfinite(ms)


def test_a_reply_before_the_calls_are_done_fails_the_bench():
    with pytest.raises(AssertionError, match="its kernels were still running"):
        _batch(str(BAD / "hides_its_batch.py"))


def test_outputs_computed_when_the_batch_was_staged_are_wrong():
    with pytest.raises(AssertionError, match="differ") as e:
        _batch(str(BAD / "computes_its_batch_when_staged.py"))
    assert "still running" not in str(e.value)  # the calls no one overwrote are wrong too
