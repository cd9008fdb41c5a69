"""What crosses between the attempt's worker and the harness, on the worker's side: a call's
GPU work waited for before its output leaves, a timed sample's inputs copied into the worker's
own memory, and an output that aliases an input sent as a marker instead."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from grader.runtime.wire import HANDLE


def settle() -> None:
    """Wait here for the GPU work a call queued, so a fault in it is raised in this process (as
    the call's error: `crashed`). An output sent on unfinished work would carry CUDA IPC's event
    for it to the harness, whose stream would then wait forever on a context that has died (seen
    on an H200: a kernel writing 4 TB past its output hung the check instead of crashing it)."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def own_memory(value: Any) -> Any:
    """A timed sample's CUDA inputs copied, before the clock starts, into this process's memory
    (strides kept): CUDA IPC maps the harness's buffers here afresh at every sample, and on an
    H200 paged_attention's B = 1 kernel read them 10% slower than memory of its own (its first
    kernel: 0.156 against 0.141 ms; scripts/gpu_gap_probe.py). The copy baseline, and a real
    caller, read memory they own."""
    if type(value) is torch.Tensor and value.is_cuda:
        return value.clone()
    if type(value) in (list, tuple):
        return type(value)(own_memory(v) for v in value)
    if type(value) is dict:
        return {k: own_memory(v) for k, v in value.items()}
    return value


def unaliased(out: Any, fn: Any, args: tuple, kwargs: dict) -> Any:
    """An output that is a view of an input cannot go back (CUDA IPC refuses to re-send memory it
    received): it goes as a marker naming the input, which the harness reports as aliasing."""
    inputs = dict(zip(param_names(fn) or [f"arg{i}" for i in range(len(args))], args))
    inputs.update(kwargs)
    shared = [(k, v) for k, v in inputs.items() if isinstance(v, torch.Tensor)]

    def mark(value: Any) -> Any:
        if type(value) in (list, tuple):
            return type(value)(mark(v) for v in value)
        if isinstance(value, torch.Tensor):
            for name, x in shared:
                if _overlaps(value, x):
                    return (HANDLE, 0, f"tensor that shares memory with input '{name}'")
        return value

    return mark(out)


def _overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.device != b.device or a.numel() == 0 or b.numel() == 0:
        return False
    sa, sb = a.untyped_storage(), b.untyped_storage()
    return (
        sa.data_ptr() < sb.data_ptr() + sb.nbytes() and sb.data_ptr() < sa.data_ptr() + sa.nbytes()
    )


def param_names(fn: Any) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []
