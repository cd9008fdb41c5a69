"""Launch W local ranks of `python -m engine` as torchrun would (RANK, WORLD_SIZE and the
rendezvous in the environment) and wait for them: `dojo engine run --ep W`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

from grader.runtime.ranks import NCCL_ENV


def launch_ranks(args: list[str], world: int, timeout_s: float | None = None) -> tuple[int, str]:
    """`python -m engine ARGS` on `world` local ranks, started as torchrun would (RANK,
    WORLD_SIZE, MASTER_ADDR/PORT in the environment). Rank 0's stdout is ours; returns (exit
    status, 'rank R: ' + the last stderr line of the first rank that failed); the other ranks
    are then killed rather than left waiting in a collective."""
    with socket.socket() as s:  # a free port for the rendezvous, picked by the OS
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs, logs = [], []
    for rank in range(world):
        env = {**os.environ, **NCCL_ENV, "RANK": str(rank), "LOCAL_RANK": str(rank)}
        env |= {"WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // world)))
        logs.append(tempfile.TemporaryFile("w+"))
        out = None if rank == 0 else subprocess.DEVNULL
        cmd = [sys.executable, "-m", "engine", *args]
        procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=logs[-1]))
    return _wait_ranks(procs, logs, timeout_s)


def _wait_ranks(procs: list, logs: list, timeout_s: float | None) -> tuple[int, str]:
    deadline = time.monotonic() + (timeout_s or float("inf"))
    while True:
        codes = [p.poll() for p in procs]
        failed = [r for r, c in enumerate(codes) if c]  # exited, and not with 0
        if failed or all(c == 0 for c in codes) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    if failed:
        logs[failed[0]].seek(0)
        lines = [ln for ln in logs[failed[0]].read().splitlines() if ln.strip()]
        return codes[failed[0]], f"rank {failed[0]}: " + (lines or ["exited with no output"])[-1]
    if any(c is None for c in codes):
        return 124, f"the {len(procs)} ranks did not finish within {timeout_s:g} s"
    return 0, ""
