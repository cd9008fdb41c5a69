"""The bench driver (`python -m grader.perf.bench SLUG IMPL --dojo-report fd:OUT:KEY`): a harness
process that never imports the implementation. It runs it in a worker, gives every timed sample
inputs drawn fresh outside the timed region, re-checks every timed output against the reference
here, measures the baseline in the same run, and sends raw samples (signed) to the parent, which
computes the fractions and tiers (grader.perf.score)."""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grader.runtime.device import enable_interpreter_if_no_gpu

enable_interpreter_if_no_gpu()  # before anything below can import triton

import torch  # noqa: E402

from grader.harness.checked import CheckedImpl, ImplError, open_impl, remote  # noqa: E402
from grader.harness.hooks import Hooks, hooks_for  # noqa: E402
from grader.perf.bench_cpu import time_cpu  # noqa: E402
from grader.perf.call import Call  # noqa: E402
from grader.perf.grade import choose_perf  # noqa: E402
from grader.perf.tamper import own_copy  # noqa: E402
from grader.problem.impls import peer_missing, resolve  # noqa: E402
from grader.problem.registry import get_problem  # noqa: E402
from grader.problem.spec import Perf, Problem  # noqa: E402
from grader.runtime import timing  # noqa: E402
from grader.runtime.errors import ImplLoadError  # noqa: E402
from grader.sandbox.events import sign  # noqa: E402
from grader.sandbox.process import undumpable  # noqa: E402

# One thread in both workers: the speedup asked for is the algorithm's, and OpenMP's spinning
# threads turn a busy laptop's background load into 10x swings. The variable only asks: a
# worker's request is charged its process's CPU time where that exceeds the wall time, so
# threads of its own (torch.set_num_threads, a thread pool) buy no speedup. glibc's malloc
# kept in its steady state: a worker that maps inputs and outputs through shared memory between
# calls otherwise hands its large buffers back to the kernel each time and page-faults them in
# again inside the timed call (measured: 2,100 faults, 4-5 ms of a 4 ms spec_decode call).
CPU_BENCH_ENV = {
    "OMP_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
}
# Sample i of a case draws its inputs from seed SEED + i, SEED drawn afresh by each run: an
# implementation that knew the inputs in advance could answer them all before the clock starts.
# Above 2**32, so never one of the tests' seeds (grader.harness.strategies).
SEED = (1 << 32) + secrets.randbelow(1 << 40)
# A peer outside the tolerance but within 4x of it rounds differently (SDPA rounds P to bf16):
# timed, marked inexact. Beyond, or on an exact problem (0 stays 0), the peer is wrong.
INEXACT_FACTOR = 4


def measure(problem: Problem, spec: str, peers: bool = False) -> dict[str, Any]:
    perf = choose_perf(problem)
    if perf is None:
        need = "2+ CUDA GPUs" if "multi_gpu" in problem.perf else "a CUDA GPU"
        return {"status": "needs_gpu", "message": f"perf is measured on {need}"}
    hooks, root = hooks_for(problem), problem.path.parent.parent
    head = {"status": "measured", "device": _device_name(perf), "perf_device": perf.device}
    if perf.metric == "custom":  # the problem times itself (multi-process NCCL, ...)
        return {**head, "custom": hooks.bench_custom(resolve(problem, spec, root), perf)}
    if perf.device == "cpu":
        os.environ.update(CPU_BENCH_ENV)  # inherited by both workers
    with _opened(problem, "reference", root) as base:
        with _opened(problem, spec, root) as impl:
            cases = [_case(problem, perf, hooks, impl, base, case) for case in perf.cases]
            extra = remote(impl.client, ("call", ("bench_extra", perf.device), (), {}), "bench")
        if peers:  # the same cases, seeds and baselines: side by side in one run
            head["peers"] = [_peer(problem, perf, hooks, base, name) for name in problem.peers]
    return {**head, "cases": cases, "extra": extra if isinstance(extra, dict) else {}}


def _peer(problem: Problem, perf: Perf, hooks: Hooks, base: CheckedImpl, name: str) -> dict:
    """One declared peer through the implementation's path: loaded in a worker of its own,
    its first output checked, then timed with every output re-checked. A wrong peer is
    reported as failed and its times are not kept; one within INEXACT_FACTOR times the
    tolerance is timed and reported inexact, with its first mismatch."""
    peer, root = problem.peers[name], problem.path.parent.parent
    if peer_missing(peer):  # absent is "not installed", wherever it would have run
        return {"name": name, "status": "not_installed", "message": peer_missing(peer)}
    if perf.device not in peer.devices:
        why = peer.note or f"measured on {', '.join(peer.devices)} only"
        return {"name": name, "status": "not_here", "message": f"not on {perf.device}: {why}"}

    def timed() -> dict[str, Any]:
        rows, lenient = [], hooks.relaxed(INEXACT_FACTOR)
        with _opened(problem, f"peer:{name}", root) as impl:
            for case in perf.cases:
                rows.append(_peer_case(problem, perf, hooks, impl, base, case, lenient))
        return _peer_record(rows)

    try:
        return {"name": name, **_outcome(timed)}
    except Exception as e:  # noqa: BLE001 - a broken peer costs the implementation nothing
        text = f"{type(e).__name__}: {e}"[:2000] + _holders(str(e))
        return {"name": name, "status": "error", "message": text}


def _holders(message: str) -> str:
    """After an out-of-memory error: who holds the GPU's memory (paged's peers met 134 GB)."""
    if "out of memory" not in message or not torch.cuda.is_available():
        return ""
    procs = " ".join(torch.cuda.list_gpu_processes().split())
    return f" [GPU processes: {procs}; this driver is {os.getpid()}]"[:600]


def _peer_case(problem, perf, hooks, impl, base, case, lenient) -> dict[str, Any]:
    """A peer's row for one case: one it cannot run (Liger's softmax stops at 65536 columns) is
    an error on that case alone; a wrong answer, a fault or a dead worker ends the peer."""
    try:
        return _case(problem, perf, hooks, impl, base, case, lenient)
    except AssertionError as e:
        raise AssertionError(f"case {case}: {e}") from None
    except ImplError as e:
        if e.kind == "died" or e.cuda_fault:
            raise
        return {"case": case, "status": "error", "message": f"case {case}: {e}"[:1000]}


def _peer_record(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """measured, inexact or (no case ran) error; the message: the first mismatch or error."""
    timed = [r for r in rows if r.get("status") != "error"]
    errors = [r["message"] for r in rows if r.get("status") == "error"]
    if not timed:
        return {"status": "error", "message": errors[0]}
    off = [f"case {r['case']}: {r.pop('inexact')}" for r in timed if "inexact" in r]
    record = {"status": "inexact" if off else "measured", "cases": rows}
    return {**record, "message": (off + errors)[0]} if off or errors else record


@contextmanager
def _opened(problem: Problem, spec: str, root: Path) -> Iterator[CheckedImpl]:
    impl = open_impl(problem, resolve(problem, spec, root), root)
    try:
        yield impl
    finally:
        impl.client.close()


def _case(
    problem: Problem,
    perf: Perf,
    hooks: Hooks,
    impl: CheckedImpl,
    base: CheckedImpl,
    case: dict,
    lenient: Hooks | None = None,
) -> dict[str, Any]:
    """One benchmark case: a first checked call, warm-up on the GPU, then the timed samples.
    The reference runs in a worker of its own, which no attempt has touched. With `lenient`
    (peers only), outputs outside the tolerance but within lenient's are kept, noted in the
    row's "inexact"."""
    ref = importlib.import_module(f"reference.{problem.slug}")
    device = "cuda" if perf.device != "cpu" else "cpu"

    def inputs(i: int) -> dict[str, Any]:
        return ref.make_inputs(case, torch.Generator(device).manual_seed(SEED + i))

    call = Call(impl, base, ("bench_target", perf.device), perf.entry, hooks, lenient)
    call.checked(inputs(-1))
    row: dict[str, Any] = {"case": case}
    if device == "cuda":
        for i in range(3):  # JIT compilation, autotuning, allocator warm-up stay out of samples
            call.impl(inputs(-2 - i))
        row.update(_time_gpu(call, perf, inputs))
        row["baseline_value"] = _baseline(perf, hooks, case)
    else:
        row.update(time_cpu(call, perf, inputs))
    if call.mismatch:
        row["inexact"] = call.mismatch
    if device == "cuda":  # this process's cached blocks back to the device before the next case
        torch.cuda.empty_cache()
    return row


def _time_gpu(call: Call, perf: Perf, inputs: Callable) -> dict[str, Any]:
    """CUDA events in the worker, around the call alone; this process's clock around the whole
    request bounds each reported time (a worker reporting less than it took is caught)."""
    samples, walls, began = [], [], time.perf_counter()
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
    return {"samples_ms": samples, "wall_ms": walls}


def _baseline(perf: Perf, hooks: Hooks, case: dict) -> float:
    """Measured once per case and run, so the implementation and its peers share it."""
    key = "copy" if perf.metric == "bandwidth" else repr(sorted(case.items()))
    if key not in _BASELINES:
        if perf.metric == "bandwidth":
            _BASELINES[key] = timing.copy_bandwidth()
        else:
            m, n, k, dtype = hooks.baseline_gemm(case)
            _BASELINES[key] = timing.cublas_flops(m, n, k, dtype)
    return _BASELINES[key]


_BASELINES: dict[str, float] = {}  # this driver process's measurements, one run


def _device_name(perf: Perf) -> str:
    if perf.device == "cpu":
        return "cpu"
    return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name()}"


def run(slug: str, spec: str, peers: bool = False) -> dict[str, Any]:
    problem = get_problem(slug)
    return _outcome(lambda: measure(problem, spec, peers))


def _outcome(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """fn's record, or the verdict on what the implementation did instead."""
    try:
        return fn()
    except ImplLoadError as e:
        return {"status": "error", "message": str(e)}
    except NotImplementedError as e:
        return {"status": "not_attempted", "message": str(e) or "not attempted yet"}
    except AssertionError as e:
        return {"status": "failed", "message": str(e).split("\nassert ")[0]}
    except ImplError as e:
        crashed = e.kind == "died" or e.cuda_fault
        return {"status": "crashed" if crashed else "error", "message": str(e)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slug")
    parser.add_argument("spec")
    parser.add_argument("--dojo-report", required=True)
    parser.add_argument("--peers", action="store_true", help="also time the declared peers")
    args = parser.parse_args()
    out, key = (int(f) for f in args.dojo_report.removeprefix("fd:").split(":"))
    undumpable()  # before the key, the baseline and the expected outputs are in memory here
    with os.fdopen(key, "rb") as f:
        secret = bytes.fromhex(f.read().decode().strip())
    result = run(args.slug, args.spec, args.peers)
    with os.fdopen(out, "w") as pipe:
        pipe.write(sign(secret, {"event": "bench", "result": result}) + "\n")


if __name__ == "__main__":
    main()
