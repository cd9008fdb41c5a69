"""tests/conftest.py's GPU lock: an exclusive test waits for the shared ones running, and tests
arriving while it waits queue behind it (else 7 workers' stream of tests would starve it)."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

from tests.conftest import gpu_turn


def _delayed(exclusive: bool, delay: float, hold: float, log, name: str, locks: Path) -> None:
    time.sleep(delay)
    with gpu_turn(exclusive, locks):
        log.put((name, "in", time.monotonic()))
        time.sleep(hold)
        log.put((name, "out", time.monotonic()))


def _run(plan: list[tuple[str, bool, float, float]], locks: Path) -> dict[tuple[str, str], float]:
    """plan: (name, exclusive, start after s, hold for s); when each got in and out. The locks
    are the test's own: on a GPU machine this test itself holds the suite's shared lock."""
    ctx = mp.get_context("fork")  # spawn would re-import this module by a name xdist lacks
    log = ctx.Queue()
    procs = []
    for name, exclusive, delay, hold in plan:
        p = ctx.Process(target=_delayed, args=(exclusive, delay, hold, log, name, locks))
        p.start()
        procs.append(p)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    events = {}
    while not log.empty():
        name, what, t = log.get()
        events[name, what] = t
    return events


def test_shared_tests_overlap_and_an_exclusive_one_runs_alone(tmp_path):
    ev = _run([("a", False, 0.0, 1.0), ("b", False, 0.1, 1.0), ("x", True, 0.3, 0.5),
               ("c", False, 0.6, 0.3)], tmp_path / "locks")  # fmt: skip
    assert ev["b", "in"] < ev["a", "out"]  # shared ones run side by side
    assert ev["x", "in"] >= max(ev["a", "out"], ev["b", "out"])  # x waits for both
    assert ev["c", "in"] >= ev["x", "out"]  # c came while x waited: it queues behind x
