"""The floor the harness's own clock puts under a GPU score (grader.perf.bound) and the parent's
use of it (grader.perf.score), on synthetic numbers: an honest report within the noise is scored
as it is, a report below the harness's figure is lifted to it, and neither an inflated overhead
measurement nor a flattering report buys more than the caps allow."""

from __future__ import annotations

import statistics

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.perf import bench_gpu, bound
from grader.perf.bound import clocked, note, overhead_ms, per_call_ms
from grader.perf.score import BadRecord, score
from grader.problem.registry import get_problem

QUICK = settings(derandomize=True, max_examples=150, deadline=None, database=None)
TIMES = st.floats(1e-3, 1e3)


@QUICK
@given(
    real=TIMES,
    jitter=st.lists(st.floats(-0.02, 0.02), min_size=1, max_size=30),
    excess=st.lists(st.floats(0.0, 0.07), min_size=1, max_size=bound.BATCHES),
)
def test_an_honest_report_within_the_noise_is_scored_as_it_is(real, jitter, excess):
    """Events within 2% of the real time, batches up to 7% over it (overhead, no L2 flush)."""
    samples = [real * (1 + j) for j in jitter]
    c = clocked(samples, [real * (1 + e) for e in excess])
    assert c.median_ms == statistics.median(samples) and not c.by_harness
    assert c.to_json()["clock"] == "events"


@QUICK
@given(
    real=TIMES,
    flattery=st.floats(1 + bound.SLACK + 1e-3, 1e3),
    n=st.integers(1, 30),
    excess=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=bound.BATCHES),
)
def test_a_report_below_the_harness_figure_is_lifted_to_it(real, flattery, n, excess):
    """The worker claims `flattery` times less than its calls take in a batch; the batches
    (never faster than the calls: work plus overhead) put the score back within the slack."""
    batches = [real * (1 + e) for e in excess]
    c = clocked([real / flattery] * n, batches)
    assert c.by_harness and c.to_json()["clock"] == "harness"
    assert c.median_ms == pytest.approx(min(batches) / (1 + bound.SLACK))
    assert c.median_ms >= real / (1 + bound.SLACK) * (1 - 1e-12)


@QUICK
@given(samples=st.lists(TIMES, min_size=1, max_size=20), batches=st.lists(TIMES, min_size=1))
def test_the_scored_median_is_the_larger_of_the_events_and_the_floor(samples, batches):
    c = clocked(samples, batches)
    floor = min(batches) / (1 + bound.SLACK)
    assert c.median_ms == max(statistics.median(samples), floor)
    assert c.by_harness == (statistics.median(samples) < floor)


@QUICK
@given(wall=st.floats(1e-2, 1e4), k=st.integers(1, bound.K_MAX), overhead=st.floats(0, 1e6))
def test_an_inflated_overhead_takes_no_more_than_its_cap(wall, k, overhead):
    got = per_call_ms(wall, overhead, k)
    cap = min(bound.OVERHEAD_CAP_MS, bound.OVERHEAD_SHARE * wall)
    assert (wall - cap) / k * (1 - 1e-12) <= got <= wall / k
    assert got <= per_call_ms(wall, overhead / 2, k)  # more overhead never raises the figure


@QUICK
@given(pings=st.lists(st.floats(1e-3, 5.0), min_size=1, max_size=5), busy=st.floats(0, 10))
def test_cpu_the_attempt_burns_during_the_pings_is_taken_off_the_overhead(pings, busy):
    got = overhead_ms(pings, busy)
    assert 0 <= got <= min(pings)
    assert got <= max(0.0, min(pings) - busy)


@pytest.mark.parametrize(("wall", "k"), [(0.0, 4), (-1.0, 4), (float("nan"), 4), (1.0, 0)])
def test_a_batch_without_a_positive_time_is_refused(wall, k):
    with pytest.raises(ValueError):
        per_call_ms(wall, 0.0, k)


@QUICK
@given(
    median=st.floats(1e-4, 100.0),
    size=st.integers(1, 1 << 34),
    free=st.integers(0, 1 << 38),
)
def test_a_batch_fits_in_memory_and_a_flattering_report_never_shortens_it(median, size, free):
    k = bound.batch_size(median, size, free)
    assert bound.K_MIN <= k <= bound.K_MAX
    if k > bound.K_MIN:
        room = min(bound.BATCH_BYTES, free // 2)
        assert k * median >= bound.BATCH_TARGET_MS or k == bound.K_MAX or (k + 1) * size > room
        assert k * size <= room
    assert bound.batch_size(median / 3, size, free) >= k


# ---- the parent's score -----------------------------------------------------------------------


def _scored(samples: list[float], batches: list[float] | None) -> dict:
    problem = get_problem("rms_norm")
    perf = problem.perf["gpu"]
    row = {"case": perf.cases[0], "samples_ms": samples, "baseline_value": 4e12}
    if batches is not None:
        row["batch_ms"] = batches
    return score(problem, perf, {"status": "measured", "device": "1x H", "cases": [row]})


def test_the_reports_its_own_time_cheat_is_scored_on_the_harness_clock():
    """The numbers of tests/sandbox/bad_attempts/reports_its_own_time.py: events a third of the
    0.3 ms its calls take; the score is that of 0.3 ms less the slack, not of 0.1 ms."""
    honest = _scored([0.3] * 10, [0.31, 0.305, 0.32])
    cheat = _scored([0.1] * 10, [0.31, 0.305, 0.32])
    (case,) = cheat["cases"]
    assert case["clock"] == "harness" and case["events_median_ms"] == 0.1
    assert case["median_ms"] == pytest.approx(0.305 / (1 + bound.SLACK))
    assert cheat["fraction"] <= honest["fraction"] * (1 + bound.SLACK)
    assert "3x" in note(case) and "harness's clock" in note(case)
    assert honest["cases"][0]["clock"] == "events" and note(honest["cases"][0]) == ""


def test_events_beyond_the_roofline_still_fail_whatever_the_batch_says():
    with pytest.raises(AssertionError, match="impossible"):
        _scored([1e-4] * 5, [0.3] * 3)


@pytest.mark.parametrize("batches", [None, [], [0.0], [-1.0, 0.2], ["0.2"], [float("inf")]])
def test_a_gpu_record_without_positive_batch_times_is_refused(batches):
    with pytest.raises(BadRecord, match="batch_ms"):
        _scored([0.3] * 5, batches)


# ---- what the harness overwrites after a batch's reply -----------------------------------------


@pytest.mark.parametrize(
    "dtype",
    [torch.float32, torch.bfloat16, torch.float8_e4m3fn, torch.int64, torch.uint8, torch.bool],
)
def test_overwritten_points_hold_what_no_worker_can_turn_back_and_nothing_else_changes(dtype):
    """NaN in floats (fp8 through its bits), integers XORed with a random mask, booleans
    flipped; on a transposed (non-contiguous) input, as empty_like makes for one."""
    src = (
        (torch.randn(96, 40) * 20).to(dtype).t()
        if dtype != torch.bool
        else torch.randn(96, 40).t() > 0
    )
    leaf = torch.empty_like(src).copy_(src)
    target, where, values = bench_gpu._poison(leaf, src)
    target.put_(where, values)
    hit = torch.zeros(src.numel(), dtype=torch.bool)
    hit[where] = True
    flat_now, flat_was = leaf.reshape(-1), src.reshape(-1)
    if dtype.is_floating_point:
        assert flat_now[hit].float().isnan().all() and not flat_now[~hit].float().isnan().any()
        assert torch.equal(flat_now[~hit].float(), flat_was[~hit].float())
    else:
        assert (flat_now[hit] != flat_was[hit]).all() and torch.equal(
            flat_now[~hit], flat_was[~hit]
        )
    assert hit.sum() > bound.PROBE_POINTS // 2
