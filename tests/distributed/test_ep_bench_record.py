"""ep_all_to_all's benchmark, whose ranks run the attempt: they send raw times only, and the
parent computes medians, the fraction of NCCL and the tier (grader/perf/score.py). The same
steps run here on two gloo ranks; forged or implausible records become verdicts."""

from __future__ import annotations

import statistics

import pytest

from grader.perf.score import IMPOSSIBLE, BadRecord, score
from grader.problem.registry import get_problem
from grader.runtime.paths import ROOT
from grader.runtime.ranks import Ranks

SOLUTION = str(ROOT / "solutions" / "ep_all_to_all" / "torch.py")
CASE = {"W": 2, "T": 64, "H": 32, "E": 4, "k": 2, "F": 64, "routing": "uniform"}
CASE |= {"dtype": "float32"}
SERIES = ("samples_ms", "baseline_samples_ms", "layer_samples_ms")


def _bench_step(case: dict, spec: str = "solution") -> dict:
    """One rank's bench step, given the implementation as grader.perf.bench gives it."""
    from grader.problem.impls import resolve
    from problems.ep_all_to_all.hooks import _bench_rank, _locator

    ref = resolve(get_problem("ep_all_to_all"), spec)
    return _bench_rank(_locator(ref), case, 0.05, "cpu")


@pytest.mark.parametrize("spec", ["solution", SOLUTION, "null:zeros", "reference"])
def test_a_rank_loads_what_impl_named(spec):
    """The ranks get the --impl argument (what `dojo bench` resolved) and load the same module
    (the H200 run once failed here: the locator read __name__ off a resolved ImplRef)."""
    from grader.problem.impls import resolve
    from problems.ep_all_to_all.hooks import _load_impl, _locator

    ref = resolve(get_problem("ep_all_to_all"), spec)
    module = _load_impl(_locator(ref))
    assert callable(module.ep_moe)
    if ref.path is not None:
        assert module.__file__ == str(ref.path)


def _perf():
    return get_problem("ep_all_to_all").perf["multi_gpu"]


def _score(rows: list[dict]) -> dict:
    raw = {"status": "measured", "device": "test", "custom": {"cases": rows}}
    return score(get_problem("ep_all_to_all"), _perf(), raw)


def _rows(**row) -> list[dict]:
    return [{"case": case, **row} for case in _perf().cases]


def test_two_gloo_ranks_send_raw_times_that_the_parent_scores():
    with Ranks(2, timeout_s=120) as ranks:
        got = ranks.run(_bench_step, CASE)[0]  # asserts closeness to the reference per rank
    assert set(got) == set(SERIES)
    assert all(len(got[k]) >= 3 and min(got[k]) > 0 for k in SERIES), got
    # gloo's bare all_to_all on two busy CPU cores can be slower than the attempt's own
    # exchange, so the ratio is whatever the machine gave: the parent must score it from the
    # raw times either way, and refuse it as impossible above IMPOSSIBLE["custom"]
    ratio = statistics.median(got["baseline_samples_ms"]) / statistics.median(got["samples_ms"])
    if ratio > IMPOSSIBLE["custom"]:
        with pytest.raises(AssertionError, match=f"impossible result: {ratio:.2f}x the nccl"):
            _score(_rows(**got))
        return
    result = _score(_rows(**got))
    case = result["cases"][0]
    assert case["fraction"] == pytest.approx(case["baseline_ms"] / case["median_ms"])
    assert 0 < case["comm_share"] and case["baseline_GBps_per_rank"] > 0
    assert result["tier"] == _perf().tier(case["fraction"])


def test_the_parent_ignores_a_fraction_and_tier_the_ranks_claim():
    rows = _rows(samples_ms=[4.0] * 5, baseline_samples_ms=[1.0] * 5)
    for row in rows:
        row.update(fraction=0.99, tier="gold", median_ms=0.001)
    case = _score(rows)["cases"][0]
    assert case["fraction"] == 0.25 and case["median_ms"] == 4.0 and case["tier"] is None


@pytest.mark.parametrize(
    "row",
    [
        {"fraction": 0.9, "tier": "gold"},  # the old record: claims, no samples
        {"samples_ms": [1.0], "baseline_samples_ms": "fast"},
        {"samples_ms": [0.0, 1.0], "baseline_samples_ms": [1.0]},
        {"samples_ms": [1.0], "baseline_samples_ms": [1.0], "layer_samples_ms": [float("inf")]},
    ],
)
def test_a_record_without_plausible_samples_is_rejected(row):
    with pytest.raises(BadRecord):
        _score(_rows(**row))


def test_faster_than_the_bare_collectives_it_must_run_is_impossible():
    with pytest.raises(AssertionError, match="impossible result: 4.00x the nccl baseline"):
        _score(_rows(samples_ms=[0.25] * 5, baseline_samples_ms=[1.0] * 5))


def test_an_attempt_that_replaced_the_ranks_clock_gets_no_times():
    """The ranks run the attempt, so their clock is sealed before it is loaded (seal.py)."""
    cheat = str(ROOT / "tests" / "sandbox" / "bad_attempts" / "ep_flatters_its_clock.py")
    with Ranks(2, timeout_s=120) as ranks:
        with pytest.raises(AssertionError) as raised:
            ranks.run(_bench_step, CASE, cheat)
    assert "ep_moe replaced problems.ep_all_to_all.hooks._sample_ms, part of the rank's" in str(
        raised.value
    )
