"""The GPU side of the bench driver: samples timed with CUDA events in the worker (the attempt's
process, so they are its word), then batches of calls on fresh inputs timed on this process's
own clock, which stops only after inputs of calls picked here were overwritten (a call still
running then comes out wrong). The parent scores the events' median, or the batches' figure
where the events claim faster: grader.perf.bound says why, and what is left open."""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from grader.harness.checked import remote
from grader.perf import bound
from grader.perf.tamper import cpu_seconds, own_copy
from grader.runtime import timing

if TYPE_CHECKING:
    from grader.perf.bench import Call
    from grader.problem.spec import Perf

BATCH_SEEDS = 1 << 20  # batch b, call j draws inputs(BATCH_SEEDS + b * K_MAX + j): unused seeds
_PICK = random.SystemRandom()  # whose inputs are overwritten: nothing the worker can know


def time_gpu(call: Call, perf: Perf, inputs: Callable) -> dict[str, Any]:
    """The event samples, then bound.BATCHES timed batches of a size the samples suggest; the
    worker's batch is left empty after each (its outputs let go)."""
    samples, walls, out = _samples(call, perf, inputs)
    size = 2 * _nbytes(inputs(0)) + _nbytes(out)  # the judged inputs, the worker's, the output
    k = bound.batch_size(statistics.median(samples), size, torch.cuda.mem_get_info()[0])
    seeds = [BATCH_SEEDS + b * bound.K_MAX for b in range(bound.BATCHES)]
    batches = [run_batch(call, inputs, k, seed) for seed in seeds]
    return {"samples_ms": samples, "wall_ms": walls, "batch_ms": batches, "batch_calls": k}


def _samples(call: Call, perf: Perf, inputs: Callable) -> tuple[list, list, Any]:
    """CUDA events in the worker, around the call alone; this process's clock around the whole
    request bounds each reported time from above (a worker reporting more than it took)."""
    samples, walls, began, out = [], [], time.perf_counter(), None
    while not timing.done(samples, began, perf.budget_s, 10, 300):
        x = inputs(len(samples))
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        ms, out = call.impl(own_copy(x), "time")
        walls.append((time.perf_counter() - t0) * 1e3)
        if not isinstance(ms, float) or not 0 < ms <= walls[-1]:
            raise AssertionError(
                f"the worker reported {ms!r} ms for a call that took {walls[-1]:.3f} ms here"
            )
        samples.append(ms)
        call.verify(x, out)
    return samples, walls, out


def run_batch(call: Call, inputs: Callable, k: int, seed: int) -> float:
    """One batch of k calls on fresh inputs; the harness's figure (ms) for one call. The worker
    is staged empty buffers, filled here just before the clock starts (nothing to compute
    ahead). When its reply comes, points of PROBES calls' inputs, picked now, are overwritten
    here before the clock stops: a call still running then reads them and comes out wrong."""
    xs = [inputs(seed + j) for j in range(k)]
    blanks = [_blank(x) for x in xs]
    call.i.client.own(blanks)
    _request(call, "impl", ("stage_batch", call.target, [((), b) for b in blanks], {}))
    picks = _PICK.sample(range(k), min(bound.PROBES, k))
    poison = [_poison(leaf, src) for j in picks for leaf, src in _pairs(blanks[j], xs[j])]
    for blank, x in zip(blanks, xs):
        _fill(blank, x)
    overhead = _overhead(call)
    _sync()
    t0 = time.perf_counter()
    _request(call, "impl", ("run_batch",))
    for leaf, where, values in poison:
        leaf.put_(where, values)
    _sync()
    wall = (time.perf_counter() - t0) * 1e3
    outs = _request(call, "impl", ("fetch_batch", list(range(k))))
    _request(call, "impl", ("stage_batch", call.target, [], {}))  # the worker lets them go
    _check(call, xs, outs, set(picks))
    return bound.per_call_ms(wall, overhead, k)


def _overhead(call: Call) -> float:
    """A request's own cost: the bare round trip of the reference's worker (no attempt in it),
    the fastest of three, less the CPU time the implementation's process took meanwhile."""
    pid = call.i.client.proc.pid
    before = cpu_seconds(pid)
    pings = [_clocked(call, "ref", ("ping",))[0] for _ in range(3)]
    return bound.overhead_ms(pings, (cpu_seconds(pid) - before) * 1e3)


def _check(call: Call, xs: list, outs: Any, poisoned: set[int]) -> None:
    """Every output against the reference on the inputs as filled in; the calls whose inputs
    were overwritten last, so a wrong kernel is reported as one, not as a late reply."""
    if not isinstance(outs, list) or len(outs) != len(xs):
        raise AssertionError(f"the worker sent {type(outs).__name__} for a batch of {len(xs)}")
    for j in sorted(range(len(xs)), key=lambda j: j in poisoned):
        try:
            call.verify(xs[j], outs[j])
        except AssertionError as e:
            if j not in poisoned:
                raise
            raise AssertionError(
                f"output {j} of a timed batch is wrong where its inputs were overwritten just "
                "after the worker said the batch was done: its kernels were still running (a "
                f"reply must follow the work it times). {str(e).splitlines()[0]}"
            ) from None


def _poison(leaf: torch.Tensor, src: torch.Tensor) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """(the input as `put_` takes it, points, values): PROBE_POINTS random elements and values
    unlike those filled in there that a worker finding them cannot undo (NaN; integers XORed
    with a random mask); floats go through their bits (no fp8 `put_` needed). Made before the
    clock starts."""
    n, dev = leaf.numel(), leaf.device
    where = torch.randint(max(n, 1), (min(n, bound.PROBE_POINTS),), device=dev)
    if leaf.is_floating_point():
        bits = _BITS[leaf.element_size()]
        nan = torch.full(where.shape, math.nan, device=dev).to(leaf.dtype)
        return leaf.view(bits), where, nan.view(bits)
    if leaf.is_complex() or leaf.dtype == torch.bool:
        flip = torch.full(where.shape, math.nan, device=dev) if leaf.is_complex() else None
        return leaf, where, flip.to(leaf.dtype) if flip is not None else ~torch.take(src, where)
    mask = torch.randint(1, 128, where.shape, device=dev).to(leaf.dtype)
    return leaf, where, torch.take(src, where) ^ mask


_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _pairs(blank: Any, x: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b, s) for b, s in zip(_leaves(blank), _leaves(x)) if b.numel()]


def _request(call: Call, side: str, request: tuple) -> Any:
    client = call.i.client if side == "impl" else call.b.client
    return remote(client, request, call.name if side == "impl" else "the reference")


def _clocked(call: Call, side: str, request: tuple) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = _request(call, side, request)
    return (time.perf_counter() - t0) * 1e3, out


def _sync() -> None:
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _leaves(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _leaves(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _leaves(v)]
    return []


def _nbytes(value: Any) -> int:
    return sum(t.numel() * t.element_size() for t in _leaves(value))


def _blank(value: Any) -> Any:
    """The structure of a sample's inputs with empty tensors: the worker's copy, unfilled."""
    if isinstance(value, torch.Tensor):
        return torch.empty_like(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_blank(v) for v in value)
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items()}
    return value


def _fill(blank: Any, value: Any) -> None:
    for dst, src in zip(_leaves(blank), _leaves(value)):
        dst.copy_(src)
