"""The harness's own clock as a floor under a GPU score: the CUDA-event times of the samples are
measured in the attempt's process, which can report anything; a batch of calls on fresh
inputs, on this process's clock until it knows the calls are no longer running, says how fast
they can really be. The numbers and the rules live here; the batch is run by
grader.perf.bench_gpu and the parent applies the floor (grader.perf.score).

Why a floor and not a rejection: an implementation whose launch path (Python, guards, several
launches) is slower than its kernel runs a batch at its launch rate, and the batch cannot tell
that from a faked report. Such an attempt, honest or not, is scored at the harness's figure
(less the slack); neither is called a cheat.

What an attacker who controls the worker can still do (gains against the time its calls
really take back to back):
- report event times down to 1 / (1 + SLACK) of the batch figure: at most SLACK faster;
- run calls faster in a batch than alone (a warm L2, calls overlapped on several streams): the
  samples flush the L2 and time one call, the batch does not; the bench cases are sized well
  past the L2 and to fill the GPU, so there is little to gain;
- reply to the batch before its kernels finish: once the reply is in, this process overwrites
  PROBE_POINTS random elements of every input tensor of PROBES calls (picked here, unknown to
  the worker) and only then stops its clock; a kernel still reading them computes a wrong
  output, which fails the bench. A fraction f of the calls left pending escapes a batch with
  chance (1 - f) ** PROBES, all BATCHES with (1 - f) ** (PROBES * BATCHES);
- copy its inputs (or read them all) before replying and compute afterwards: the copying is
  inside the clock, so this pays wherever copying the inputs is cheaper than the work. It is
  not, for the memory-bound problems (rms_norm reads and writes as much as a copy of its input
  moves); it is for the GEMMs (wmma_gemm, moe_dispatch), whose small inputs feed milliseconds
  of math: there the floor stops a naive report but not this. Closing it needs the outputs
  read inside the clock, and opening a CUDA IPC handle costs ~1 ms each, more than the calls;
- compute ahead of the clock: inputs are staged as empty buffers and filled by this process
  just before it starts, so staging gives nothing; a kernel left running from an earlier
  request that polls the buffers and computes as they fill is not caught (another process's
  GPU work is invisible here);
- slow the overhead measurement (the reference worker's bare round trip, subtracted): CPU
  time its process takes meanwhile is charged back (not that of children it started), and at
  most OVERHEAD_CAP_MS (and OVERHEAD_SHARE of the batch's wall time) is ever subtracted: a
  few percent of a batch of milliseconds."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

SLACK = 0.10  # an honest batch's figure over its event median: noise, the probe, no L2 flush
BATCH_TARGET_MS = 20.0  # GPU time a batch aims at (a round trip is ~0.1 ms)
BATCH_BYTES = 16 << 30  # inputs (the judged and the worker's copies) and outputs of a batch
K_MIN, K_MAX = 2, 512  # calls in a batch
BATCHES = 3  # batches per case; the floor is their fastest
PROBES = 3  # calls whose inputs are overwritten after the reply, inside the clock
PROBE_POINTS = 1024  # elements overwritten in each of their input tensors
OVERHEAD_CAP_MS, OVERHEAD_SHARE = 0.1, 0.1  # most the measured overhead may take off a batch


def batch_size(median_ms: float, bytes_per_call: int, free_bytes: int) -> int:
    """Calls in a batch: enough for BATCH_TARGET_MS of work at the reported time (a worker
    that reports less only makes the batch longer), no more than memory allows."""
    want = math.ceil(BATCH_TARGET_MS / median_ms) if median_ms > 0 else K_MAX
    room = min(BATCH_BYTES, free_bytes // 2) // max(bytes_per_call, 1)
    return max(K_MIN, min(want, room, K_MAX))


def per_call_ms(wall_ms: float, overhead_ms: float, k: int) -> float:
    """The harness's figure for one call: the batch's wall time less the trusted overhead of
    its request, capped (a slowed overhead measurement buys little)."""
    if not (wall_ms > 0 and k >= 1 and math.isfinite(wall_ms)):
        raise ValueError(f"a batch of {k} calls timed at {wall_ms!r} ms")
    taken = min(max(overhead_ms, 0.0), OVERHEAD_CAP_MS, OVERHEAD_SHARE * wall_ms)
    return (wall_ms - taken) / k


def overhead_ms(pings_ms: list[float], busy_ms: float) -> float:
    """The reference worker's fastest bare round trip, less the CPU time the implementation's
    process spent while the pings ran (work to crowd them out and inflate them)."""
    return max(0.0, min(pings_ms) - busy_ms)


@dataclass(frozen=True, slots=True)
class Clocked:
    """The median a GPU case is scored on: the events' unless the harness's clock says the
    calls cannot be that fast, then the harness's floor."""

    median_ms: float
    events_ms: float  # the worker's CUDA events, median
    harness_ms: float  # the harness's figure per call, fastest batch
    floor_ms: float  # harness_ms / (1 + SLACK)

    def __post_init__(self) -> None:
        if not all(x > 0 and math.isfinite(x) for x in (self.events_ms, self.harness_ms)):
            raise ValueError(f"times must be positive: {self.events_ms}, {self.harness_ms}")

    @property
    def by_harness(self) -> bool:
        return self.events_ms < self.floor_ms

    def to_json(self) -> dict[str, object]:
        return {
            "median_ms": self.median_ms,
            "events_median_ms": self.events_ms,
            "harness_ms": self.harness_ms,
            "clock": "harness" if self.by_harness else "events",
        }


def clocked(samples_ms: list[float], batch_ms: list[float]) -> Clocked:
    """The scored median: max(events' median, fastest batch / (1 + SLACK))."""
    events, harness = statistics.median(samples_ms), min(batch_ms)
    floor = harness / (1 + SLACK)
    return Clocked(max(events, floor), events, harness, floor)


def note(row: dict[str, object]) -> str:
    """One line for a case scored on the harness's clock; '' otherwise."""
    if row.get("clock") != "harness":
        return ""
    events, harness = row["events_median_ms"], row["harness_ms"]
    return (
        f"timed by the harness's clock: the worker's CUDA events said {events:.4g} ms a call, "
        f"a batch of calls took {harness:.4g} ms each ({harness / events:.2g}x); a launch path "
        "slower than the kernel does this too"
    )
