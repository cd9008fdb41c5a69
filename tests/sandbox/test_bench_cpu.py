"""The CPU bench times a request that carries no data: inputs are staged and the output fetched
in requests of their own. An attempt that moves its work into either gets that time charged back
(grader.perf.score), so it gains nothing; an honest one is charged (almost) nothing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.perf import bench, bench_cpu, score, tamper
from grader.problem.registry import get_problem

BAD = Path(__file__).parent / "bad_attempts"
SMALL = {"B": 128, "G": 4, "V": 4096}  # half the bench case: the work dwarfs a round trip
TINY = {"B": 4, "G": 2, "V": 64}  # a bench case whose inputs cost nothing to make


def _measure(impl: str) -> dict:
    problem = get_problem("spec_decode")
    perf = dataclasses.replace(problem.perf["cpu"], cases=[SMALL], budget_s=4.0)
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


def _charge(impl_stage: list[float], ref_stage: list[float]) -> float:
    problem = get_problem("spec_decode")
    n = len(impl_stage)
    fetch = [0.5] * n
    row = {
        "case": SMALL,
        "samples_ms": [1.0] * n,
        "baseline_samples_ms": [2.0] * n,
        "transfer_ms": {"impl": [impl_stage, fetch], "ref": [ref_stage, fetch]},
    }
    raw = {"status": "measured", "cases": [row]}
    return score.score(problem, problem.perf["cpu"], raw)["cases"][0]["transfer_charge_ms"]


def test_load_spikes_in_a_few_transfers_are_not_charged():
    # a loaded machine: 2 of 5 of the implementation's stagings took 10 ms longer
    assert _charge([11.0, 1.0, 11.0, 1.0, 1.0], [1.0, 1.2, 0.9, 1.1, 1.0]) <= 0.2


def test_a_transfer_slower_in_most_samples_is_charged_its_median_excess():
    assert _charge([6.0, 6.0, 1.0, 6.0, 6.0], [1.0] * 5) == 5.0


def test_a_load_burst_over_both_sides_is_not_charged():
    # load over samples 0-2 slowed both sides' staging, but ended before the reference's third
    assert _charge([3.0, 3.0, 3.0, 1.0, 1.0], [3.0, 3.0, 1.0, 1.0, 1.0]) == 0.0


@pytest.mark.parametrize(
    ("cheat", "case"),
    [
        ("rewrites_shared_inputs", TINY),  # rewrites the inputs the reference is given next
        ("knows_the_bench_inputs", TINY),  # precomputed the answers for the bench's seeds
        ("fills_output_after_fetch", SMALL),  # a thread fills the output after it was sent
    ],
)
def test_an_implementation_right_only_where_it_cheats_fails(cheat, case):
    problem = get_problem("spec_decode")
    perf = dataclasses.replace(problem.perf["cpu"], cases=[case], budget_s=2.0)
    problem = dataclasses.replace(problem, perf={"cpu": perf})
    raw = bench._outcome(lambda: bench.measure(problem, str(BAD / f"{cheat}.py")))
    assert raw["status"] == "failed" and "elements differ" in raw["message"], raw


def test_work_on_threads_of_its_own_is_charged_its_cpu_time():
    problem = get_problem("spec_decode")
    perf = dataclasses.replace(problem.perf["cpu"], cases=[TINY], budget_s=0.5)
    problem = dataclasses.replace(problem, perf={"cpu": perf})
    raw = bench.measure(problem, str(BAD / "uses_other_cores.py"))
    burnt = 2 * 1e3 * 0.03  # two helper threads, 30 ms of CPU each
    assert min(raw["cases"][0]["samples_ms"]) >= 0.95 * burnt, raw["cases"][0]["samples_ms"]


_BURNER = """import sys
sys.path.insert(0, sys.argv[1])
import uses_other_cores as cheat
print("ready", flush=True)
sys.stdin.readline()
cheat._burn_in_helpers()
print("done", flush=True)
sys.stdin.readline()
"""


def test_cpu_seconds_counts_every_thread_of_another_process():
    child = subprocess.Popen(
        [sys.executable, "-c", _BURNER, str(BAD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "ready\n"
        before = tamper.cpu_seconds(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"
        # the main thread only waited: the helpers' CPU time is what this must see
        assert tamper.cpu_seconds(child.pid) - before >= 2 * 0.03
    finally:
        child.kill()
        child.wait()
    assert tamper.cpu_seconds(child.pid) == 0.0  # gone: nothing to charge


@pytest.mark.parametrize(
    ("cheat", "words"),
    [("slows_the_reference", "reniced to 19"), ("stops_the_reference", "stopped (SIGSTOP)")],
)
def test_an_implementation_that_slows_the_reference_down_fails(cheat, words):
    problem = get_problem("spec_decode")
    perf = dataclasses.replace(problem.perf["cpu"], cases=[TINY], budget_s=2.0)
    problem = dataclasses.replace(problem, perf={"cpu": perf})
    raw = bench._outcome(lambda: bench.measure(problem, str(BAD / f"{cheat}.py")))
    assert raw["status"] == "failed" and words in raw["message"], raw


class _Burner:
    """Stands in for a worker: .proc.pid is a process that burns `ms` of CPU on each request."""

    def __init__(self, ms: float):
        burn = "import sys, time\nfor _ in sys.stdin:\n    t = time.process_time()\n"
        burn += f"    while time.process_time() - t < {ms / 1e3}: pass\n    print(flush=True)\n"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def request(self, message):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()
        return ("ok", None)


def test_cpu_the_implementation_burns_while_the_reference_runs_is_charged_to_it():
    spinner, reference = _Burner(40.0), _Burner(0.0)  # its threads spin through the reference's
    reference.request = lambda message: spinner.request(message)  # turn, here: 40 ms of CPU
    call = SimpleNamespace(i=SimpleNamespace(client=spinner), b=SimpleNamespace(client=reference))
    call.target = ("bench_target", "cpu")
    try:
        _, busy = bench_cpu.reference_sample(call, {}, {"stage": [], "run": [], "fetch": []})
    finally:
        for p in (spinner.proc, reference.proc):
            p.kill()
            p.wait()
    assert busy >= 3 * 40 * 0.95  # stage, run and fetch: three requests of the reference's
