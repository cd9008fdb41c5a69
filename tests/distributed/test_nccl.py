"""Two NCCL ranks, one H200 each: the rank pool over real NVLink, and the ep_all_to_all solution
checked against the reference on every rank inside its benchmark step (the path `dojo bench
ep_all_to_all` takes). Reported as needs_gpu on a machine with fewer than two GPUs."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from grader.runtime.paths import ROOT
from grader.runtime.ranks import Ranks

pytestmark = pytest.mark.multi_gpu
SOLUTION = str(ROOT / "solutions" / "ep_all_to_all" / "torch.py")


def _all_to_all(n: int) -> list[float]:
    W, r = dist.get_world_size(), dist.get_rank()
    x = torch.arange(W * n, device="cuda", dtype=torch.float32) + 100 * r  # block s goes to s
    y = torch.empty_like(x)
    dist.all_to_all_single(y, x)
    return y.cpu().tolist()


def _bench_step(case: dict) -> dict:
    from problems.ep_all_to_all.hooks import _bench_rank

    return _bench_rank(("path", SOLUTION), case, 0.5, "cuda")


def test_all_to_all_over_nccl_delivers_block_r_of_every_rank_to_rank_r():
    with Ranks(2, backend="nccl") as ranks:
        got = ranks.run(_all_to_all, 3)
    for r in range(2):
        assert got[r] == [100 * s + 3 * r + j for s in range(2) for j in range(3)], got


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_ep_solution_over_nccl_matches_the_reference_on_every_rank(dtype):
    case = {"W": 2, "T": 256, "H": 128, "E": 8, "k": 2, "F": 256, "routing": "uniform"}
    with Ranks(2, backend="nccl", timeout_s=120.0) as ranks:
        rows = ranks.run(_bench_step, {**case, "dtype": dtype})  # asserts closeness per rank
    series = ("samples_ms", "baseline_samples_ms", "layer_samples_ms")
    assert all(min(r[k]) > 0 for r in rows for k in series), rows
    assert rows[0] == rows[1], "every rank reports the all-reduced (slowest-rank) times"
