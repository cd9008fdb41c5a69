"""grader.runtime.ranks: results in rank order, rank errors raised with their rank and type, hangs
and deaths turned into clear errors within the timeout, and no rank process left behind."""

from __future__ import annotations

import os
import time

import pytest
import torch
import torch.distributed as dist

from grader.runtime.ranks import NCCL_ENV, RankDied, Ranks, RanksTimedOut


def _rank_and_sum(x: int) -> tuple[int, int, str | None]:
    t = torch.tensor([dist.get_rank() + x])
    dist.all_reduce(t)
    return dist.get_rank(), int(t), os.environ.get("NCCL_NVLS_ENABLE")


def _assert_on_rank_1() -> None:
    assert dist.get_rank() != 1, "values differ"


def _rank_0_waits_alone() -> None:
    if dist.get_rank() == 0:
        dist.all_reduce(torch.zeros(1))


def _rank_0_aborts() -> None:
    if dist.get_rank() == 0:
        os.abort()
    dist.all_reduce(torch.zeros(1))


def _alive(pids: list[int]) -> list[int]:
    return [
        p
        for p in pids
        if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
    ]


def test_results_come_back_in_rank_order_with_the_nccl_env_set():
    with Ranks(2) as ranks:
        assert ranks.run(_rank_and_sum, 10) == [
            (0, 21, NCCL_ENV["NCCL_NVLS_ENABLE"]),
            (1, 21, NCCL_ENV["NCCL_NVLS_ENABLE"]),
        ]


def test_a_rank_assertion_is_raised_with_its_rank_and_the_ranks_stay_usable():
    with Ranks(2) as ranks:
        with pytest.raises(AssertionError, match="^rank 1: values differ"):
            ranks.run(_assert_on_rank_1)
        assert [r[0] for r in ranks.run(_rank_and_sum, 0)] == [0, 1]


def test_a_hang_becomes_a_timeout_naming_the_stuck_rank_and_kills_every_rank():
    ranks = Ranks(2, timeout_s=3, grace_s=1, restart=False)
    ranks.run(_rank_and_sum, 0)
    pids = [p.popen.pid for p in ranks._procs]
    t0 = time.monotonic()
    with pytest.raises(RanksTimedOut, match="rank 0 of 2 did not finish .* within 3 s"):
        ranks.run(_rank_0_waits_alone)
    assert time.monotonic() - t0 < 10
    assert _alive(pids) == []
    with pytest.raises(RanksTimedOut, match="not run: the ranks were lost earlier"):
        ranks.run(_rank_and_sum, 0)
    ranks.close()


def test_a_rank_that_dies_is_reported_with_its_signal_and_the_next_call_restarts():
    with Ranks(2, timeout_s=20, grace_s=2) as ranks:
        with pytest.raises(RankDied, match="rank 0 died .*SIGABRT"):
            ranks.run(_rank_0_aborts)
        assert [r[1] for r in ranks.run(_rank_and_sum, 1)] == [3, 3]


def test_lambdas_are_refused_before_any_process_starts():
    ranks = Ranks(2)
    with pytest.raises(ValueError, match="module-level function"):
        ranks.run(lambda: 0)
    assert ranks._procs == []
