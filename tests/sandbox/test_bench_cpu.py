"""The CPU bench times a request that carries no data: inputs are staged and the output fetched
in requests of their own. An attempt that moves its work into either gets that time charged back
(grader.perf.score), so it gains nothing; an honest one is charged (almost) nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from grader.perf import bench, score
from grader.problem.registry import get_problem

BAD = Path(__file__).parent / "bad_attempts"
SMALL = {"B": 128, "G": 4, "V": 4096}  # half the bench case: the work dwarfs a round trip


def _measure(impl: str) -> dict:
    problem = get_problem("spec_decode")
    perf = dataclasses.replace(problem.perf["cpu"], cases=[SMALL], budget_s=1.0)
    problem = dataclasses.replace(problem, perf={"cpu": perf})
    raw = bench.measure(problem, impl)
    assert raw["status"] == "measured", raw
    return score.score(problem, perf, raw)["cases"][0]


@pytest.mark.parametrize("cheat", ["computes_while_staged", "computes_at_fetch"])
def test_work_moved_out_of_the_timed_request_is_charged_back(cheat):
    case = _measure(str(BAD / f"{cheat}.py"))
    assert case["transfer_charge_ms"] >= 0.5 * case["median_ms"], case


def test_an_honest_worker_is_charged_little():
    case = _measure("solution")
    assert case["transfer_charge_ms"] <= 0.3 * case["median_ms"], case


def test_a_record_without_transfer_times_is_refused():
    problem = get_problem("spec_decode")
    row = {"case": SMALL, "samples_ms": [1.0] * 5, "baseline_samples_ms": [2.0] * 5}
    with pytest.raises(score.BadRecord, match="transfer"):
        score.score(problem, problem.perf["cpu"], {"status": "measured", "cases": [row]})
