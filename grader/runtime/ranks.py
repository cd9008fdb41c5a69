"""Run a function on the W ranks of a torch.distributed group, one process per rank: gloo on the
CPU or NCCL on GPUs, a race-free port, rank errors raised in the caller with their rank, hangs
turned into a timeout error, and no processes left behind."""

from __future__ import annotations

import builtins
import os
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import wait
from typing import Any

from grader.runtime import rank_proc, wire
from grader.runtime.rank_worker import barrier

# NVLink multicast (NVLS, symmetric-memory multicast) stays off in every rank we start.
NCCL_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
BACKENDS = ("gloo", "nccl")
STUCK_HINT = (
    "stuck in a collective such as all_to_all_single? every rank of the group must make "
    "the same collective calls with matching split sizes"
)


class RankFailure(RuntimeError):
    """The ranks could not start, or a rank died or hung; str() says which rank and why."""


class RankDied(RankFailure):
    """A rank process exited in the middle of a call (a signal, an abort inside a collective)."""


class RanksTimedOut(RankFailure):
    """Some ranks did not finish a call within the timeout; all ranks were killed."""


class RemoteTraceback(Exception):
    """Attached as __cause__ of a re-raised rank exception: the traceback text from the rank."""


class Ranks:
    """W rank processes that stay up between calls, so callers pay the start-up once:
    `with Ranks(4) as ranks: ranks.run(fn, *args)` runs fn(*args) on every rank inside an
    initialised default process group and returns the ranks' return values in rank order.
    fn must be a module-level function (found again by module name or file in each rank).

    After a rank dies or hangs the processes are killed; the next call starts new ones, or,
    with restart=False, fails at once with the first failure (a broken implementation under
    test would otherwise pay a start-up, or a whole timeout, on every later call)."""

    def __init__(
        self,
        world_size: int,
        backend: str = "gloo",
        timeout_s: float = 60.0,
        grace_s: float = 5.0,
        start_timeout_s: float = 180.0,
        restart: bool = True,
    ):
        if world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {world_size}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.world_size, self.backend, self.restart = world_size, backend, restart
        self.timeout_s, self.grace_s, self.start_timeout_s = timeout_s, grace_s, start_timeout_s
        self._procs: list[rank_proc.RankProc] = []
        self._store: Any = None
        self._lost: tuple[type[RankFailure], str] | None = None
        self._serve: dict[str, Callable[..., Any]] = {}

    def __enter__(self) -> Ranks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        fn: Callable,
        *args: Any,
        timeout_s: float | None = None,
        what: str | None = None,
        serve: dict[str, Callable[..., Any]] | None = None,
    ) -> list[Any]:
        """fn(*args) on every rank; a rank's exception is re-raised here as 'rank R: ...'.
        `what` names the call in error messages (default: fn's name). `serve` answers the
        ranks' `rank_worker.ask_parent(name, *args)` calls here: serve[name](rank, *args)."""
        target, what = rank_proc.target(fn), what or fn.__name__
        self._serve = serve or {}
        if self._lost is not None:
            cls, message = self._lost
            raise cls(f"not run: the ranks were lost earlier: {message}")
        if not self._procs:
            self._start()
        for p in self._procs:
            wire.send(p.conn, ("run", target, args))
        try:
            replies = self._collect(timeout_s or self.timeout_s, what)
        except RanksTimedOut as e:
            self._lose(type(e), str(e))
            raise
        bad = [(r, rep) for r, rep in replies.items() if rep[0] != "ok"]
        if bad:
            self._fail(bad, replies, what)
        return [replies[r][1] for r in range(self.world_size)]

    def _fail(self, bad: list[tuple[int, tuple]], replies: dict, what: str) -> None:
        bad.sort(key=lambda item: item[1][0] != "died")  # a death is the cause, not a symptom
        rank, rep = bad[0]
        stuck = sorted(set(range(self.world_size)) - set(replies))
        tail = (
            f" ({_list(stuck)} still inside {what} {self.grace_s:g} s later, killed: {STUCK_HINT})"
            if stuck
            else ""
        )
        if rep[0] == "died":
            message = f"rank {rank} died ({rep[1]}) while running {what}{tail}"
            self._lose(RankDied, message)
            raise RankDied(message)
        exc = _rebuild(rep[1], f"rank {rank}: ", tail)
        if stuck:
            self._lose(RanksTimedOut, f"{what}: {exc}")
        elif not all(r[1]["assertion"] for _, r in bad) and not self._agree():
            self._lose(RanksTimedOut, f"{what}: {exc}; afterwards the ranks disagreed on a barrier")
        raise exc from RemoteTraceback(f"traceback in rank {rank}:\n{rep[1]['traceback']}")

    def _agree(self) -> bool:
        """After an exception that may have left a collective half done: do all ranks still
        pass a barrier together? (An assertion after the collectives needs no such check.)"""
        for p in self._procs:
            wire.send(p.conn, ("run", rank_proc.target(barrier), ()))
        try:
            replies = self._collect(2 * self.grace_s, "a barrier")
        except RanksTimedOut:
            return False
        return all(rep[0] == "ok" for rep in replies.values()) and len(replies) == self.world_size

    def _lose(self, cls: type[RankFailure], message: str) -> None:
        self._kill()
        if not self.restart:
            self._lost = (cls, message)

    def close(self) -> None:
        """Stop the ranks cleanly (they leave the group), killing any that do not exit in time."""
        for p in self._procs:
            try:
                wire.send(p.conn, ("stop",))
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for p in self._procs:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def _start(self) -> None:
        import torch.distributed as dist

        # The parent hosts the rendezvous store on port 0: the OS picks a free port, no race.
        self._store = dist.TCPStore(
            "127.0.0.1",
            0,
            is_master=True,
            wait_for_workers=False,
            timeout=timedelta(seconds=self.start_timeout_s),
        )
        env = {**os.environ, **NCCL_ENV, "PYTHONUNBUFFERED": "1"}
        if self.backend == "gloo":
            env.setdefault("OMP_NUM_THREADS", "1")  # W ranks share the cores
        self._procs = [rank_proc.spawn(rank, env) for rank in range(self.world_size)]
        pg_timeout = 2 * self.timeout_s + self.grace_s  # ours fires first, with a clearer message
        for p in self._procs:
            wire.send(p.conn, (p.rank, self.world_size, self.backend, self._store.port, pg_timeout))
        try:
            replies = self._collect(self.start_timeout_s, "init_process_group")
        except RanksTimedOut as e:
            raise RankFailure(
                f"could not start {self.world_size} {self.backend} ranks: {e}"
            ) from None
        failed = [(r, rep) for r, rep in replies.items() if rep[0] != "ready"]
        if failed or len(replies) < self.world_size:
            self._kill()
            missing = sorted(set(range(self.world_size)) - set(replies))
            why = (
                f"rank {failed[0][0]}: {_summary(failed[0][1])}"
                if failed
                else f"{_list(missing)} did not join within {self.start_timeout_s:g} s"
            )
            raise RankFailure(f"could not start {self.world_size} {self.backend} ranks: {why}")

    def _collect(self, timeout_s: float, what: str) -> dict[int, tuple]:
        """Replies by rank, in arrival order. After the first failure the others get grace_s."""
        deadline = time.monotonic() + timeout_s
        pending = {p.conn: p for p in self._procs}
        replies: dict[int, tuple] = {}
        while pending:
            ready = wait(list(pending), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            for conn in ready:
                reply = rank_proc.receive(pending[conn])
                if reply[0] == "callback":
                    self._answer(pending[conn], reply[1])
                    continue
                p = pending.pop(conn)
                replies[p.rank] = reply
                if replies[p.rank][0] in ("error", "died"):
                    deadline = min(deadline, time.monotonic() + self.grace_s)
        if pending and not any(rep[0] in ("error", "died") for rep in replies.values()):
            stuck = sorted(p.rank for p in pending.values())
            self._kill()
            raise RanksTimedOut(
                f"{_list(stuck)} of {self.world_size} did not finish {what} "
                f"within {timeout_s:g} s ({STUCK_HINT})"
            )
        return replies

    def _answer(self, p: rank_proc.RankProc, request: Any) -> None:
        """A rank asked the parent (rank_worker.ask_parent): run the served function here."""
        try:
            name, args = request
            value = ("ok", self._serve[name](p.rank, *args))
        except Exception as e:  # noqa: BLE001 - the rank raises it where it asked
            value = ("raised", f"{type(e).__name__}: {e}")
        wire.send(p.conn, value)

    def _kill(self) -> None:
        for p in self._procs:
            if p.popen.poll() is None:
                p.popen.kill()
        for p in self._procs:
            p.popen.wait()
            p.conn.close()
            os.close(p.lifeline)
            p.log.close()
        self._procs, self._store = [], None


def _rebuild(info: dict, prefix: str, suffix: str) -> BaseException:
    """The rank's exception as a builtin exception of the same type (AssertionError, ValueError,
    ...), message prefixed with the rank; a RankFailure for any other type. Nothing a rank sends
    is unpickled into a class of its choosing."""
    cls = getattr(builtins, str(info.get("type", "")), None)
    message = prefix + str(info.get("message", info.get("summary", ""))) + suffix
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, OSError):
        return cls(message)
    return RankFailure(prefix + str(info.get("summary", "")) + suffix)


def _summary(rep: tuple) -> str:
    return rep[1]["summary"] if rep[0] == "error" else str(rep[1])


def _list(ranks: list[int]) -> str:
    """'rank 1' or 'ranks 0, 2'."""
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks))
