"""The GPU timing recipe on a real device: baselines are plausible, and work that escapes the
timed stream or results that beat the roofline are rejected. Skipped without a CUDA GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.perf.grade import run_bench
from grader.problem.registry import get_problem
from grader.runtime import timing

pytestmark = [pytest.mark.gpu, pytest.mark.exclusive_gpu]  # timings: the GPU to itself
BAD = Path(__file__).parents[1] / "sandbox" / "bad_attempts"


def test_copy_bandwidth_is_physically_plausible():
    bw = timing.copy_bandwidth()
    assert 0.2e12 < bw < 12e12, f"copy bandwidth {bw / 1e12:.2f} TB/s"


def test_time_gpu_reports_a_copy_at_about_copy_bandwidth():
    """A clone is a copy: its rate is the copy bandwidth. The GPU is this test's alone
    (exclusive_gpu); each is still measured three times in alternation, best of each compared."""
    x = torch.empty(256 * 2**20 // 4, device="cuda")
    best_bw, best_clone, best_ratio = 0.0, 0.0, 0.0
    for _ in range(3):
        best_bw = max(best_bw, timing.copy_bandwidth())
        t = timing.time_gpu(lambda i: x.clone(), budget_s=2.0)
        best_clone = max(best_clone, 2 * x.nbytes / (t.min_ms * 1e-3))
        best_ratio = max(best_ratio, t.host_ratio)  # another test's kernels only lower it
        assert t.samples >= 10
    assert 0.7 < best_clone / best_bw < 1.15, f"clone at {best_clone / best_bw:.2f} of copy"
    assert best_ratio > 0.5, f"event time over host time {best_ratio:.2f} in the best of 3"


def test_work_hidden_on_a_side_stream_is_rejected():
    b = run_bench(get_problem("rms_norm"), str(BAD / "side_stream.py"))
    assert b["status"] == "failed", b
    assert "escaped the current stream" in b["message"] or "impossible" in b["message"], b


def test_memoised_results_gain_nothing_on_fresh_inputs():
    """Every timed sample gets inputs the attempt has never seen, so a memo keyed on the input
    always misses: the cheat runs the slow eager reference each time and reaches no tier (before
    fresh inputs it replayed a pool of three and beat the roofline)."""
    b = run_bench(get_problem("rms_norm"), str(BAD / "memoizing_cheat.py"))
    assert b["status"] == "measured" and b["tier"] is None, b
    assert b["fraction"] < 0.5, b


def test_a_worker_whose_clock_was_replaced_is_not_timed():
    """The clock replaced by names no source check resolves: the worker's seal refuses the
    first timed sample, so the bench reports the replacement, never a (tripled) fraction."""
    b = run_bench(get_problem("rms_norm"), str(BAD / "patches_the_clock_unseen.py"))
    assert b["status"] == "failed" and "fraction" not in b, b
    assert "replaced the worker's sample_gpu, part of the grader's clock" in b["message"], b
