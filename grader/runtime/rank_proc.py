"""One rank process as the parent of a grader.runtime.ranks pool sees it: start it, read its
replies (untrusted) and name the function it must find again by module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from typing import IO, Any

from grader.runtime import wire
from grader.runtime.logs import tail_line
from grader.runtime.paths import ROOT


@dataclass(slots=True)
class RankProc:
    rank: int
    popen: subprocess.Popen
    conn: Connection
    lifeline: int  # write end of a pipe the rank watches: closed or parent dead -> the rank exits
    log: IO[str]


def spawn(rank: int, env: dict[str, str]) -> RankProc:
    parent_end, child_end = Pipe()
    watch_r, watch_w = os.pipe()
    log = tempfile.TemporaryFile("w+")
    cmd = [
        sys.executable,
        "-m",
        "grader.runtime.rank_worker",
        str(child_end.fileno()),
        str(watch_r),
    ]
    # Same process group as the caller: a sandbox that kills the caller's group kills the ranks.
    popen = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        pass_fds=(child_end.fileno(), watch_r),
    )
    child_end.close()
    os.close(watch_r)
    return RankProc(rank, popen, parent_end, watch_w, log)


def receive(p: RankProc) -> tuple:
    """("ok", value) | ("ready", None) | ("error", info) | ("callback", (name, args)) |
    ("died", how). What a rank sends is untrusted: it crosses the whitelisting unpickler."""
    try:
        kind, payload = wire.receive(p.conn)
    except wire.Unreceivable as e:
        return ("error", _info(f"it sent {e}"))
    except (EOFError, OSError):
        try:
            code = p.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = (
            f"signal {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exit status {code}"
        )
        p.log.seek(0)
        last = tail_line(p.log.read()[-4000:])
        return ("died", how + (f"; its last output: {last}" if last else ""))
    if kind == "error" and not isinstance(payload, dict):
        return ("error", _info(f"a malformed error report: {payload!r}"[:300]))
    return (kind, payload)


def _info(summary: str) -> dict[str, Any]:
    return {"type": "RankFailure", "assertion": False, "traceback": "", "summary": summary}


def target(fn: Callable) -> tuple[str, str | None, str]:
    """(module, file, qualname): how a rank imports fn again."""
    qualname = getattr(fn, "__qualname__", "")
    if not qualname or "<" in qualname:
        raise ValueError(
            f"Ranks.run needs a module-level function, got {fn!r}: ranks import it "
            "by name, so lambdas and nested functions cannot be sent"
        )
    module = sys.modules.get(fn.__module__)
    return fn.__module__, getattr(module, "__file__", None), qualname
