"""Timing: CUDA events on a flushed L2 with the launch latency hidden behind a spin kernel,
a median with a standard-error stop rule, a host-clock cross-check; perf_counter on the CPU."""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

L2_FLUSH_BYTES = 256 * 1024 * 1024  # > 2x the L2 of an H100 (50 MB) or H200 (60 MB)
SPIN_CYCLES = 2_000_000  # ~1 ms at 2 GHz: longer than any Python launch path we time


@dataclass(frozen=True, slots=True)
class Timing:
    median_ms: float
    samples: int
    stderr_pct: float  # standard error of the mean over the mean, in percent
    min_ms: float
    host_ratio: float | None = None  # event time / host time on an idle GPU; < 0.5 is suspicious

    def to_json(self) -> dict[str, Any]:
        return {
            "median_ms": round(self.median_ms, 6),
            "samples": self.samples,
            "stderr_pct": round(self.stderr_pct, 3),
            "min_ms": round(self.min_ms, 6),
            "host_ratio": None if self.host_ratio is None else round(self.host_ratio, 3),
        }


def stderr_pct(xs: list[float]) -> float:
    if len(xs) < 2:
        return math.inf
    return 100 * statistics.stdev(xs) / math.sqrt(len(xs)) / statistics.fmean(xs)


def done(xs: list[float], started: float, budget_s: float, min_n: int, max_n: int) -> bool:
    if len(xs) >= max_n or time.perf_counter() - started > budget_s and len(xs) >= 3:
        return True
    return len(xs) >= min_n and stderr_pct(xs) < 1.0


def time_gpu(
    call: Callable[[int], Any],
    budget_s: float = 10.0,
    min_n: int = 10,
    max_n: int = 300,
    check: Callable[[int, Any], None] | None = None,
) -> Timing:
    """call(i) runs sample i (the caller rotates fresh inputs); check(i, out) re-checks outputs."""
    xs: list[float] = []
    began = time.perf_counter()
    while not done(xs, began, budget_s, min_n, max_n):
        ms, out = sample_gpu(lambda: call(len(xs)))
        xs.append(ms)
        if check is not None:
            check(len(xs) - 1, out)
        del out
    return Timing(statistics.median(xs), len(xs), stderr_pct(xs), min(xs), _host_ratio(call))


def sample_gpu(call: Callable[[], Any]) -> tuple[float, Any]:
    """One sample: L2 flushed, the launch queued behind a spin kernel (no host gap timed), CUDA
    events around call(), then a device-wide sync so work on any stream has finished."""
    flush = _flush_buffer()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    flush.zero_()
    torch.cuda._sleep(SPIN_CYCLES)
    start.record()
    out = call()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end), out


@functools.cache
def _flush_buffer() -> torch.Tensor:
    return torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")


def _host_ratio(call: Callable[[int], Any], n: int = 5) -> float:
    """Event time over host time for calls on an idle GPU. Work hidden on another stream, or
    left running after return, shows up in the host clock (after a device sync) but not in the
    events recorded on the current stream."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ratios = []
    for i in range(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        start.record()
        call(i)
        end.record()
        torch.cuda.synchronize()
        host_ms = (time.perf_counter() - t0) * 1e3
        ratios.append(start.elapsed_time(end) / host_ms)
    return statistics.median(ratios)


def time_cpu(
    call: Callable[[int], Any], budget_s: float = 10.0, min_n: int = 5, max_n: int = 200
) -> Timing:
    """perf_counter around call(i); median of at least min_n runs or until the budget is spent."""
    xs: list[float] = []
    began = time.perf_counter()
    while not done(xs, began, budget_s, min_n, max_n):
        t0 = time.perf_counter()
        call(len(xs))
        xs.append((time.perf_counter() - t0) * 1e3)
    return Timing(statistics.median(xs), len(xs), stderr_pct(xs), min(xs))


def ratio_ci(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Median of the paired ratios ys[i] / xs[i] (a speedup when y is the baseline's time) and a
    95% confidence interval for it from order statistics: distribution-free, robust to the odd
    slow sample a loaded machine produces."""
    ratios = sorted(y / x for x, y in zip(xs, ys) if x > 0)
    n = len(ratios)
    if n == 0:
        return math.nan, math.nan, math.nan
    half = 1.96 * math.sqrt(n) / 2
    lo, hi = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half) - 1)
    return statistics.median(ratios), ratios[lo], ratios[hi]


def done_pair(
    xs: list[float], ys: list[float], started: float, budget_s: float, min_n: int = 10
) -> bool:
    """Stop pairing once the ratio's 95% interval is within +-5% of it (at least min_n pairs),
    at 400 pairs, or when the budget is spent (then the interval says how sure it is)."""
    n = len(xs)
    if n >= 400 or (n >= 5 and time.perf_counter() - started > budget_s):
        return True
    if n < min_n:
        return False
    mid, lo, hi = ratio_ci(xs, ys)
    return (hi - lo) / 2 <= 0.05 * mid


def time_cpu_pair(
    call: Callable[[int], Any],
    base: Callable[[int], Any],
    budget_s: float = 10.0,
    min_n: int = 5,
    max_n: int = 200,
) -> tuple[Timing, Timing]:
    """Time two callables in alternation (call, base, call, base, ...) so a change in machine
    load hits both; stop when both medians are stable or the budget is spent."""
    xs: list[float] = []
    ys: list[float] = []
    began = time.perf_counter()
    while not (done(xs, began, budget_s, min_n, max_n) and done(ys, began, budget_s, min_n, max_n)):
        for f, out in ((call, xs), (base, ys)):
            t0 = time.perf_counter()
            f(len(out))
            out.append((time.perf_counter() - t0) * 1e3)
    return (
        Timing(statistics.median(xs), len(xs), stderr_pct(xs), min(xs)),
        Timing(statistics.median(ys), len(ys), stderr_pct(ys), min(ys)),
    )


def copy_bandwidth(nbytes: int = 1 << 30) -> float:
    """Device-to-device copy in bytes/s, counting bytes read plus bytes written: the speed of
    light that memory-bound problems are scored against."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda").uniform_()
    dst = torch.empty_like(src)
    timing = time_gpu(lambda i: dst.copy_(src), budget_s=3.0, min_n=20)
    return 2 * nbytes / (timing.median_ms * 1e-3)


def cublas_flops(m: int, n: int, k: int, dtype: torch.dtype) -> float:
    """torch.matmul (cuBLAS) FLOP/s at this shape, on random data."""
    a = torch.randn(m, k, device="cuda").to(dtype)  # (M, K)
    b = torch.randn(k, n, device="cuda").to(dtype)  # (K, N)
    timing = time_gpu(lambda i: torch.matmul(a, b), budget_s=3.0, min_n=20)
    return 2 * m * n * k / (timing.median_ms * 1e-3)
