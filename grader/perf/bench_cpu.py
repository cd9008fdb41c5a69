"""The CPU side of the bench driver: implementation and reference sampled in alternation, each
sample in three requests (stage, run, fetch) whose times the parent turns into a speedup and a
transfer charge (grader.perf.score); the guards of grader.perf.tamper around every sample."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from grader.harness.checked import remote
from grader.perf.tamper import cpu_seconds, own_copy, undisturbed
from grader.runtime import timing

if TYPE_CHECKING:
    from grader.perf.call import Call
    from grader.problem.spec import Perf


def time_cpu(call: Call, perf: Perf, inputs: Callable) -> dict[str, Any]:
    """This process's clock around each call, implementation and reference in alternation on
    the same fresh inputs (so a change in machine load hits both), every output re-checked.
    Inputs and outputs cross in requests of their own, outside the timed one; their times are
    kept so the parent charges an implementation for any excess over the reference's. Who goes
    first alternates too: the first to receive a sample's inputs pays a one-off cost for them
    (measured at 4-28 ms against ~1 ms for the second), which must not fall on one side.
    The reference's worker must run undisturbed (grader.perf.tamper)."""
    impl: dict[str, list[float]] = {"stage": [], "run": [], "fetch": []}
    ref: dict[str, list[float]] = {"stage": [], "run": [], "fetch": []}
    began, nice = time.perf_counter(), os.getpriority(os.PRIO_PROCESS, 0)
    while not timing.done_pair(impl["run"], ref["run"], began, perf.budget_s):
        x = inputs(len(impl["run"]))
        mine = own_copy(x)
        _share((x, mine))  # into shared memory here, not in whichever worker's staging goes first
        if len(impl["run"]) % 2 == 0:
            out = _sample_cpu(call.i.client, call.target, mine, call.name, impl)
            want, busy = reference_sample(call, x, ref)
        else:
            want, busy = reference_sample(call, x, ref)
            out = _sample_cpu(call.i.client, call.target, mine, call.name, impl)
        impl["run"][-1] += busy
        call.verify(x, out, want)
        undisturbed(call.b.client.proc, nice)
    return {
        "samples_ms": impl["run"],
        "baseline_samples_ms": ref["run"],
        "transfer_ms": {
            "impl": [impl["stage"], impl["fetch"]],
            "ref": [ref["stage"], ref["fetch"]],
        },
    }


def reference_sample(call: Call, x: dict, ref: dict) -> tuple[Any, float]:
    """The reference's sample, and the CPU time (ms) the implementation's process spent while it
    ran (threads left spinning to crowd the reference off the cores), which is charged to it."""
    pid = call.i.client.proc.pid
    before = cpu_seconds(pid)
    want = _sample_cpu(call.b.client, call.target, x, "the reference", ref)
    return want, max(0.0, cpu_seconds(pid) - before) * 1e3


def _share(value: Any) -> None:
    if isinstance(value, torch.Tensor):
        value.share_memory_()
    elif isinstance(value, (list, tuple, dict)):
        for v in value.values() if isinstance(value, dict) else value:
            _share(v)


def _sample_cpu(client, target: tuple, x: dict, name: str, times: dict) -> Any:
    """stage (inputs in), run (timed: a request with no data either way), fetch (output out,
    copied out of the shared memory it came in at once: a worker that went on writing it after
    its reply, from a thread, while the other side's sample ran, would be computing unclocked).
    Each request costs the larger of its wall time and the worker's CPU time over it."""
    out, pid = None, client.proc.pid
    for op in ("stage", "run", "fetch"):
        request = (op, target, (), x) if op == "stage" else (op,)
        t0, c0 = time.perf_counter(), cpu_seconds(pid)
        out = remote(client, request, name)
        out = own_copy(out) if op == "fetch" else out
        wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - c0
        times[op].append(max(wall, cpu) * 1e3)
    return out
