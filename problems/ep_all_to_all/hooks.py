"""ep_all_to_all's multi-GPU benchmark: one NCCL rank per GPU, ep_moe against two bare
all_to_all_single calls of the same volume, and the communication share of a SwiGLU layer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from grader.harness.compare import assert_close
from grader.harness.hooks import Hooks
from grader.harness.seal import Seal
from grader.problem.impls import ImplRef, load, resolve
from grader.problem.registry import get_problem
from grader.problem.spec import Perf
from grader.runtime import timing
from grader.runtime.ranks import Ranks
from grader.runtime.timing import L2_FLUSH_BYTES, stderr_pct
from reference.ep_all_to_all import SLUG, dispatch_plan, ep_moe, make_inputs


class EpAllToAllHooks(Hooks):
    def bench_custom(self, ref: ImplRef, perf: Perf) -> dict[str, Any]:
        return bench_custom(ref, perf)


def bench_custom(ref: ImplRef, perf: Perf) -> dict[str, Any]:
    """One NCCL rank per GPU. Per case, the raw times of: ep_moe with a trivial expert (x2), two
    plain all_to_all_single calls moving the same bytes (the baseline), and ep_moe with SwiGLU
    experts (the layer). The ranks run the attempt, so they only time; medians, the fraction
    (baseline / ep_moe) and the communication share are computed by the parent (score.py)."""
    rows = []
    for case in perf.cases:
        with Ranks(case["W"], backend="nccl", timeout_s=240.0) as ranks:
            got = ranks.run(_bench_rank, _locator(ref), case, perf.budget_s)[0]
        rows.append({"case": case, **got})
    return {"cases": rows}


def _bench_rank(
    locator: tuple[str, str], case: dict[str, Any], budget_s: float, device: str = "cuda"
) -> dict[str, list[float]]:
    """One rank's samples (device="cpu" runs the same steps on gloo, for a dry run)."""
    impl, W, rank = _load_impl(locator), dist.get_world_size(), dist.get_rank()
    inputs = make_inputs(case, torch.Generator(device=device).manual_seed(1000 + rank))
    got = impl.ep_moe(**inputs, expert_fn=_double)
    assert_close(
        got,
        ep_moe(**inputs, expert_fn=_double),
        get_problem(SLUG).tol(case["dtype"]),
        name=f"benchmark output on rank {rank}",
    )
    first, L = rank * case["E"] // W, case["E"] // W
    experts = SwiGLUExperts(first, L, case["H"], case["F"], got.dtype, device, seed=first)
    times = {
        "samples_ms": _time_ranks(
            lambda: impl.ep_moe(**inputs, expert_fn=_double), budget_s, device
        ),
        "baseline_samples_ms": _time_ranks(_plain_all_to_all(inputs, W), budget_s, device),
        "layer_samples_ms": _time_ranks(
            lambda: impl.ep_moe(**inputs, expert_fn=experts), budget_s, device
        ),
    }
    replaced = _SEAL.broken()  # the rank runs the attempt: its clock is sealed, as the worker's
    assert not replaced, f"ep_moe replaced {replaced[0]}, part of the rank's clock: no times"
    return times


def _double(e: int, rows: torch.Tensor) -> torch.Tensor:
    """The trivial expert of the communication benchmark: exact in every dtype."""
    return rows * 2


class SwiGLUExperts:
    """expert_fn for the layer timing: a SwiGLU MLP (H -> F -> H) for each of this rank's experts;
    asking for an expert this rank does not own is a KeyError."""

    def __init__(
        self, first: int, count: int, H: int, inter: int, dtype: torch.dtype, device: str, seed: int
    ):
        g = torch.Generator(device=device).manual_seed(seed)
        self.w_in, self.w_out = {}, {}
        for e in range(first, first + count):  # inter is the problem's F
            w_in = torch.randn(2 * inter, H, generator=g, device=device) * H**-0.5  # (2F, H)
            w_out = torch.randn(H, inter, generator=g, device=device) * inter**-0.5  # (H, F)
            self.w_in[e], self.w_out[e] = w_in.to(dtype), w_out.to(dtype)

    def __call__(self, e: int, rows: torch.Tensor) -> torch.Tensor:
        gate, up = (rows @ self.w_in[e].t()).chunk(2, dim=-1)  # (n, F) each: 4*n*H*F flops
        return (F.silu(gate) * up) @ self.w_out[e].t()  # (n, H): 2*n*F*H flops


def _plain_all_to_all(inputs: dict[str, Any], W: int) -> Callable[[], None]:
    """The baseline: this routing's dispatch and return volumes as two bare all_to_all_single
    calls, with the split sizes known in advance (no count exchange, no permutation)."""
    x, ids = inputs["x"], inputs["ids"]
    order, counts = dispatch_plan(ids, inputs["num_experts"], W)
    recv_counts = torch.empty_like(counts)
    dist.all_to_all_single(recv_counts, counts)
    send_splits, recv_splits = counts.tolist(), recv_counts.tolist()
    send = x.index_select(0, order // ids.shape[1])  # (T*k, H) rows in dispatch order
    recv = send.new_empty((sum(recv_splits), x.shape[1]))  # (R, H)
    back = torch.empty_like(send)  # (T*k, H)

    def call() -> None:
        dist.all_to_all_single(recv, send, recv_splits, send_splits)
        dist.all_to_all_single(back, recv, send_splits, recv_splits)

    return call


def _time_ranks(
    call: Callable[[], Any], budget_s: float, device: str, min_n: int = 10, max_n: int = 200
) -> list[float]:
    """Each sample starts after a barrier with every GPU idle and counts the slowest rank
    (all_reduce MAX): a layer is as slow as its slowest rank. The stop rule reads only
    all-reduced numbers, so every rank takes the same number of samples."""
    on_gpu = device != "cpu"
    flush = torch.empty(L2_FLUSH_BYTES // 4 if on_gpu else 0, dtype=torch.int32, device=device)
    for _ in range(3):
        call()  # NCCL buffers, allocator and cuBLAS warm-up stay out of the samples
    xs: list[float] = []
    while (
        len(xs) < max_n
        and not (len(xs) >= min_n and stderr_pct(xs) < 1.0)
        and not (len(xs) >= 3 and sum(xs) > 1e3 * budget_s)
    ):
        flush.zero_()
        dist.barrier()
        slowest = torch.tensor([_sample_ms(call, on_gpu)], device=device)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        xs.append(float(slowest))
    return xs


def _sample_ms(call: Callable[[], Any], on_gpu: bool) -> float:
    """CUDA events around call() on an idle GPU, read after a device-wide sync."""
    if not on_gpu:
        t0 = time.perf_counter()
        call()
        return (time.perf_counter() - t0) * 1e3
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()  # the barrier has completed on this GPU: every rank is here
    start.record()
    call()
    end.record()
    torch.cuda.synchronize()  # work on any stream, NCCL's included, has finished
    return start.elapsed_time(end)


def _locator(ref: ImplRef) -> tuple[str, str]:
    """How a rank finds the implementation again: the --impl argument, a path made absolute."""
    return ("spec", ref.cli_arg)


def _load_impl(locator: tuple[str, str]) -> Any:
    """The module the locator's --impl argument names (a file path is one), entries checked."""
    problem = get_problem(SLUG)
    return load(problem, resolve(problem, locator[1]))


# made when a rank imports this module, before it loads the attempt (grader/harness/seal.py)
_SEAL = Seal(
    {f"{__name__}.": lambda space=globals(): space, "grader.runtime.timing.": lambda: vars(timing)},
    {
        "torch.distributed.barrier": lambda: dist.barrier,
        "torch.distributed.all_reduce": lambda: dist.all_reduce,
    },
)
HOOKS = EpAllToAllHooks
