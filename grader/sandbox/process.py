"""Sandboxed processes: each in its own session, with a timeout, its log captured, resource
limits, and a teardown that leaves nothing behind. The grader becomes a child subreaper, so a
grandchild that double-forks and calls setsid is re-parented to it and killed with the rest;
SIGTERM and Ctrl-C tear the tree down the same way."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.runtime.logs import read_tail
from grader.runtime.paths import ROOT

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
SANDBOX_DIR = "DOJO_SANDBOX_DIR"  # set for a check: its workers' throwaway directories go inside


@dataclass(slots=True)
class Finished:
    """How a sandboxed process ended."""

    returncode: int | None  # None: killed at the timeout, or by `watch`
    log: str
    seconds: float
    killed_because: str | None = None  # what `watch` said when it stopped the process


def run_process(
    cmd: list[str],
    timeout: float,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    pass_fds: tuple[int, ...] = (),
    on_start: Callable[[], None] | None = None,
    watch: Callable[[], str | None] | None = None,
) -> Finished:
    """Run cmd in a session of its own; at exit, at the timeout or when watch() returns a reason
    (polled twice a second), kill it and every descendant."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as log, reaping(), terminate_as_interrupt():
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=pass_fds,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        try:
            if on_start is not None:
                on_start()
            if stdin is not None:
                proc.stdin.write(stdin)
                proc.stdin.close()
            rc, why = _wait(proc, start + timeout, watch)
        finally:
            kill_tree(proc)
        return Finished(rc, read_tail(log, 20000), time.monotonic() - start, why)


def _wait(
    proc: subprocess.Popen, deadline: float, watch: Callable[[], str | None] | None
) -> tuple[int | None, str | None]:
    while True:
        try:
            return proc.wait(timeout=max(0.01, min(0.5, deadline - time.monotonic()))), None
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                return None, None
            why = watch() if watch is not None else None
            if why:
                return None, why


FILE_LIMIT_MB = 1024  # no file an attempt writes, its printed output included, grows past this


def limits_preexec(memory_mb: int | None, cpu_s: int | None):
    """A preexec_fn setting RLIMIT_AS, RLIMIT_CPU and RLIMIT_FSIZE (RLIMIT_AS is left alone
    where CUDA runs: the driver reserves far more address space than memory it uses). A print
    in a hot loop fails with OSError (EFBIG: Python ignores SIGXFSZ) at FILE_LIMIT_MB instead
    of filling the disk."""

    def apply() -> None:
        size = FILE_LIMIT_MB << 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        if memory_mb:
            size = memory_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
        if cpu_s:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))

    return apply


class MemoryWatch(threading.Thread):
    """Where RLIMIT_AS cannot apply (CUDA reserves far more address space than it uses), the
    process's resident memory is read every 50 ms; past `limit_mb` the process tree is killed
    and `reason` says why, for the verdict."""

    def __init__(self, proc: subprocess.Popen, limit_mb: int):
        super().__init__(daemon=True, name="dojo-memory-watch")
        self.proc, self.limit_mb, self.reason = proc, limit_mb, ""
        self.done = threading.Event()

    def run(self) -> None:
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        while not self.done.wait(0.05) and self.proc.poll() is None:
            try:
                rss_mb = int(Path(f"/proc/{self.proc.pid}/statm").read_text().split()[1]) * page_mb
            except (OSError, ValueError, IndexError):
                return  # gone between the poll and the read
            if rss_mb > self.limit_mb:
                self.reason = (
                    f"took {rss_mb:.0f} MB of host memory, over the limit of {self.limit_mb} MB "
                    "(problem.toml [limits] memory_mb), and was stopped"
                )
                kill_tree(self.proc)
                return


@contextlib.contextmanager
def reaping() -> Iterator[None]:
    """Become a child subreaper for the duration; kill the orphans that arrived meanwhile."""
    before = set(_children(os.getpid()))
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        _kill_new_children(before)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process, its group and every descendant still attached to it."""
    victims = [proc.pid, *_descendants(proc.pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so `finally` blocks tear the sandbox down and remove
    its temporary files, as they do for Ctrl-C (main thread only; elsewhere a no-op)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        old = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _kill_new_children(before: set[int]) -> None:
    for _ in range(50):  # a killed process's own orphans arrive here next: repeat until none
        new = [p for p in _children(os.getpid()) if p not in before]
        if not new:
            return
        for pid in new:
            for victim in (*_descendants(pid), pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(victim, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _children(pid: int) -> list[int]:
    return [child for child, parent in _parents().items() if parent == pid]


def _descendants(pid: int) -> list[int]:
    parents, out, frontier = _parents(), [], [pid]
    while frontier:
        kids = [c for c, p in parents.items() if p in frontier]
        out.extend(kids)
        frontier = kids
    return out


def _parents() -> dict[int, int]:
    """pid -> parent pid for every process (Linux /proc; empty elsewhere)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        table[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def undumpable() -> None:
    """Close this process to the others of the same user: /proc/<pid>/mem, /proc/<pid>/fd and
    ptrace need root once it is not dumpable. The grader's processes call it before they hold a
    signing key, expected outputs or a baseline: an attempt runs as the same user, and could
    otherwise read the key out of the harness's memory, or rewrite the reference worker's."""
    _prctl(PR_SET_DUMPABLE, 0)


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
