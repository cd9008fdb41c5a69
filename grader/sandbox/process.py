"""A sandboxed process: its own process group, a timeout, its log captured, and the whole
group killed when it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader.runtime.paths import ROOT


@dataclass(slots=True)
class Finished:
    """How a worker process ended."""

    returncode: int | None  # None: killed at the timeout
    log: str
    seconds: float


def run_process(cmd: list[str], timeout: float, cwd: Path = ROOT) -> Finished:
    """Run cmd in its own process group; on timeout kill the whole group (no leaked children)."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        _kill_group(proc)
        log.seek(0)
        return Finished(rc, log.read()[-20000:], time.monotonic() - start)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
