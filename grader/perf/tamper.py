"""What an implementation's worker could do to a benchmark from outside its timed call, and what
the bench driver does about it: the implementation gets its own copy of the inputs (the
reference's and the ones it is judged on stay out of its reach), its CPU time is read from
outside it (threads on spare cores), and the reference's worker must run undisturbed."""

from __future__ import annotations

import os
import time
from typing import Any

import torch


def own_copy(value: Any) -> Any:
    """The implementation's own copy of a sample's inputs: what it does to them (in its call, or
    later, from a thread) can reach neither the reference's inputs nor the ones it is judged on."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(own_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: own_copy(v) for k, v in value.items()}
    return value


def cpu_seconds(pid: int) -> float:
    """CPU time of process pid, all its threads, dead ones included (Linux's per-process CPU
    clock, read from outside it: nanoseconds); 0 where there is none (the process is gone)."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)  # clock_getcpuclockid(pid), CPUCLOCK_SCHED
    except OSError:
        return 0.0


def undisturbed(proc: Any, nice: int) -> None:
    """The reference's worker is a process of the same user as the implementation's, which can
    renice it or stop it (SIGSTOP) to slow the baseline down: either fails the bench."""
    now = os.getpriority(os.PRIO_PROCESS, proc.pid)
    if now != nice:
        raise AssertionError(
            f"the reference's process was reniced to {now} during the bench (by the "
            "implementation?): its times are no baseline; leave other processes alone"
        )
    if os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WCONTINUED | os.WNOHANG) is not None:
        raise AssertionError(
            "the reference's process was stopped (SIGSTOP) during the bench (by the "
            "implementation?): its times are no baseline; leave other processes alone"
        )
