"""Expert-parallel MoE reference: out[t] = sum_j w[t, j] * expert_fn(ids[t, j], x[t]) computed on
one rank with no communication, one rank's inputs, and the multi-GPU benchmark (bench_custom)
that times ep_moe against an equal-volume pair of plain NCCL all_to_all_single calls."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

SLUG = "ep_all_to_all"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
ROUTINGS = ("uniform", "skew", "one_rank", "sparse", "zipf")


def ep_moe(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    expert_fn: Callable[[int, torch.Tensor], torch.Tensor],
    num_experts: int,
    group: Any = None,
) -> torch.Tensor:
    """The single-process MoE. `group` is accepted so that every rank can call this on its own
    tokens with ep_moe's signature; it is unused: nothing is sent, every expert runs right here."""
    T, k = ids.shape
    if ids.numel() and not 0 <= int(ids.min()) <= int(ids.max()) < num_experts:
        raise ValueError(
            f"expert ids must lie in [0, {num_experts}), got [{int(ids.min())}, {int(ids.max())}]"
        )
    y = x.new_empty((T, k, x.shape[1]))  # (T, k, H): y[t, j] = expert_fn(ids[t, j], x[t])
    for e in ids.unique().tolist():
        hit = ids == e  # (T, k) the slots routed to expert e
        y[hit] = expert_fn(e, x[hit.nonzero()[:, 0]])  # rows in the row-major order of `hit`
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device)  # (T, H) fp32 accumulator
    for j in range(k):
        out += weights[:, j, None] * y[:, j].float()  # read T*H, write T*H per slot
    return out.to(x.dtype)


def dispatch_plan(
    ids: torch.Tensor, num_experts: int, world_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(order, send_counts): order is a stable sort of the slots t*k+j by expert id, so the rows
    bound for rank 0 come first, then rank 1's, ...; send_counts[d] = slots routed to rank d."""
    if num_experts % world_size:
        raise ValueError(f"num_experts={num_experts} is not a multiple of world_size={world_size}")
    flat = ids.reshape(-1)  # (T*k,) slot t*k+j
    order = torch.argsort(flat, stable=True)  # (T*k,)
    owner = flat // (num_experts // world_size)  # (T*k,) rank that owns each slot's expert
    return order, torch.bincount(owner, minlength=world_size)


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """out[t] = sum_j weights[t, j] * y_sorted[position of slot t*k+j in order], in fp32: the
    step after the results come back in dispatch order."""
    T, k = weights.shape
    y = torch.empty_like(y_sorted)  # (T*k, H) back in slot order t*k+j
    y[order] = y_sorted
    y = y.view(T, k, y_sorted.shape[1])  # (T, k, H)
    out = torch.zeros((T, y_sorted.shape[1]), dtype=torch.float32, device=y_sorted.device)
    for j in range(k):
        out += weights[:, j, None] * y[:, j].float()
    return out.to(y_sorted.dtype)


def route(T: int, E: int, W: int, k: int, routing: str, gen: torch.Generator) -> torch.Tensor:
    """(T, k) int64 ids, k distinct experts per token, drawn with one of ROUTINGS:
    uniform; skew (every token's first choice is the last expert, owned by the last rank);
    one_rank (only the last rank's experts); sparse (about half of the experts, the others get
    nothing); zipf (popularity falling off as 1/rank^1.2 over a random order)."""
    if not 1 <= k <= E or E % W or routing not in ROUTINGS:
        raise ValueError(
            f"need 1 <= k <= E, E % W == 0, routing in {ROUTINGS}: got k={k}, E={E}, "
            f"W={W}, routing={routing!r}"
        )
    dev = gen.device
    probs = _popularity(E, W, k, routing, gen)  # (E,) unnormalised, >= k nonzero
    if T == 0:
        return torch.empty((0, k), dtype=torch.int64, device=dev)
    if routing != "skew":
        return torch.multinomial(
            probs.expand(T, E).contiguous(), k, replacement=False, generator=gen
        )
    first = torch.full((T, 1), E - 1, dtype=torch.int64, device=dev)  # (T, 1) the hot expert
    if k == 1:
        return first
    probs[E - 1] = 0.0
    rest = torch.multinomial(
        probs.expand(T, E).contiguous(), k - 1, replacement=False, generator=gen
    )
    return torch.cat([first, rest], dim=1)  # (T, k)


def _popularity(E: int, W: int, k: int, routing: str, gen: torch.Generator) -> torch.Tensor:
    dev = gen.device
    probs = torch.ones(E, device=dev)
    if routing == "one_rank":  # the last rank's experts (and its neighbours' when k > E/W)
        per_rank = E // W
        used = [((W - 1) * per_rank + i) % E for i in range(max(per_rank, k))]
        probs = torch.zeros(E, device=dev)
        probs[used] = 1.0
    elif routing == "sparse":
        used = torch.randperm(E, generator=gen, device=dev)[: max(k, E // 2)]
        probs = torch.zeros(E, device=dev)
        probs[used] = 1.0
    elif routing == "zipf":
        ranks = torch.randperm(E, generator=gen, device=dev).float()
        probs = (ranks + 1.0) ** -1.2
    return probs


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """One rank's inputs: x (T, H), ids (T, k), weights (T, k) fp32 (softmax: positive, sum 1),
    num_experts. The caller adds expert_fn (and group)."""
    T, H, E, k = case["T"], case["H"], case["E"], case["k"]
    dev = gen.device
    x = torch.randn(T, H, generator=gen, device=dev).to(DTYPES[case["dtype"]])  # (T, H)
    ids = route(T, E, case.get("W", 1), k, case.get("routing", "uniform"), gen)  # (T, k)
    weights = torch.softmax(torch.randn(T, k, generator=gen, device=dev), dim=-1)  # (T, k)
    return {"x": x, "ids": ids, "weights": weights, "num_experts": E}


def cost(case: dict[str, Any]) -> dict[str, float]:
    """Bytes each rank sends (and receives) through all_to_all: T*k rows out, T*k rows back."""
    size = torch.finfo(DTYPES[case["dtype"]]).bits // 8
    return {"bytes": 2 * case["T"] * case["k"] * case["H"] * size, "flops": 0.0}


# ---- multi-GPU benchmark: `python -m grader.bench ep_all_to_all solution OUT.json` ------------


def bench_custom(module: Any, perf: Any, problem: Any) -> dict[str, Any]:
    """One NCCL rank per GPU. Per case: ep_moe with a trivial expert (x2) against two plain
    all_to_all_single calls moving the same bytes (fraction = baseline / ep_moe), and the
    communication share of a layer with SwiGLU experts (all-to-all time / layer time)."""
    from grader.distributed import Ranks

    rows = []
    for case in perf.cases:
        with Ranks(case["W"], backend="nccl", timeout_s=240.0) as ranks:
            got = ranks.run(_bench_rank, _locator(module), case, perf.budget_s)[0]
        fraction = got["baseline_ms"] / got["median_ms"]
        rows.append({"case": case, **got, "fraction": fraction, "tier": perf.tier(fraction)})
    worst = min(rows, key=lambda r: r["fraction"])
    return {"cases": rows, "fraction": worst["fraction"], "tier": worst["tier"]}


def _bench_rank(
    locator: tuple[str, str], case: dict[str, Any], budget_s: float, device: str = "cuda"
) -> dict[str, Any]:
    """One rank's measurements (device="cpu" runs the same steps on gloo, for a dry run)."""
    from grader.compare import assert_close
    from grader.registry import get_problem

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
    moe = _time_ranks(lambda: impl.ep_moe(**inputs, expert_fn=_double), budget_s, device)
    plain = _time_ranks(_plain_all_to_all(inputs, W), budget_s, device)
    layer = _time_ranks(lambda: impl.ep_moe(**inputs, expert_fn=experts), budget_s, device)
    moved = cost(case)["bytes"]  # sent by this rank: T*k rows out + T*k rows back
    return {
        **moe,
        "baseline_ms": plain["median_ms"],
        "baseline_stderr_pct": plain["stderr_pct"],
        "baseline_GBps_per_rank": moved / (plain["median_ms"] * 1e6),
        "a2a_bytes_per_rank": moved,
        "layer_ms": layer["median_ms"],
        "comm_share": plain["median_ms"] / layer["median_ms"],
    }


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
) -> dict[str, Any]:
    """Each sample starts after a barrier with every GPU idle and counts the slowest rank
    (all_reduce MAX): a layer is as slow as its slowest rank. The stop rule reads only
    all-reduced numbers, so every rank takes the same number of samples."""
    from grader.timing import L2_FLUSH_BYTES

    on_gpu = device != "cpu"
    flush = torch.empty(L2_FLUSH_BYTES // 4 if on_gpu else 0, dtype=torch.int32, device=device)
    for _ in range(3):
        call()  # NCCL buffers, allocator and cuBLAS warm-up stay out of the samples
    xs: list[float] = []
    while (
        len(xs) < max_n
        and not (len(xs) >= min_n and _stderr_pct(xs) < 1.0)
        and not (len(xs) >= 3 and sum(xs) > 1e3 * budget_s)
    ):
        flush.zero_()
        dist.barrier()
        slowest = torch.tensor([_sample_ms(call, on_gpu)], device=device)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        xs.append(float(slowest))
    return {
        "median_ms": statistics.median(xs),
        "samples": len(xs),
        "stderr_pct": round(_stderr_pct(xs), 3),
        "min_ms": min(xs),
    }


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


def _stderr_pct(xs: list[float]) -> float:
    if len(xs) < 2:
        return math.inf
    return 100 * statistics.stdev(xs) / math.sqrt(len(xs)) / statistics.fmean(xs)


def _locator(module: Any) -> tuple[str, str]:
    """How a rank finds the implementation again: its file, or the null answer's kind
    (grader.nulls names those modules dojo_null_<slug>_<kind>)."""
    file = getattr(module, "__file__", None)
    return ("path", file) if file else ("null", module.__name__.rsplit("_", 1)[-1])


def _load_impl(locator: tuple[str, str]) -> Any:
    from grader.impls import load, resolve
    from grader.nulls import null_module
    from grader.registry import get_problem

    problem, (kind, arg) = get_problem(SLUG), locator
    return null_module(problem, arg) if kind == "null" else load(problem, resolve(problem, arg))
