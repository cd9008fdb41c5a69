"""The harness's end of a worker: starts the attempt's process (own session, throwaway working
directory, resource limits), sends it requests, serves the callbacks it makes (an expert_fn,
say), and turns what comes back into values, handles or one of two errors."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from grader.problem.impls import ImplRef
from grader.problem.spec import Problem
from grader.runtime import wire as channel
from grader.runtime.device import cuda_count
from grader.runtime.logs import read_tail, tail_line
from grader.runtime.wire import CALLBACK, HANDLE
from grader.sandbox.process import SANDBOX_DIR, MemoryWatch, kill_tree, limits_preexec


class WorkerRaised(Exception):
    """The implementation raised; `info` is the worker's description (type, message, where)."""

    def __init__(self, info: dict[str, Any]):
        super().__init__(str(info.get("message", "")))
        self.info = info


class WorkerGone(Exception):
    """The worker died, or sent what the harness does not accept; str() says which."""


class WorkerClient:
    def __init__(self, problem: Problem):
        ours, theirs = socket.socketpair()
        self.dir = Path(tempfile.mkdtemp(prefix="worker-", dir=os.environ.get(SANDBOX_DIR)))
        self.log = open(self.dir / "worker.log", "w+")  # noqa: SIM115 - closed in close()
        gpu = cuda_count() > 0
        limits = problem.limits
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.harness.worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_worker_env(self.dir),
            preexec_fn=limits_preexec(None if gpu else limits["memory_mb"], limits["cpu_s"]),
        )
        theirs.close()
        self.watch = MemoryWatch(self.proc, limits["memory_mb"]) if gpu else None
        if self.watch:  # RLIMIT_AS is the limit without CUDA
            self.watch.start()
        self.conn = Connection(ours.detach())
        self.callbacks: dict[int, Callable[..., Any]] = {}
        self._keys = itertools.count()
        self.kinds: dict[str, str] = {}
        self.params: dict[str, list[str]] = {}
        self._received: set[int] = set()  # data pointers of CUDA memory the worker sent here

    def load(self, slug: str, ref: ImplRef, root: Path) -> None:
        """Import the implementation in the worker; learn its entries (WorkerRaised if not)."""
        loaded = self.request(("load", slug, ref.cli_arg, str(root)))
        if not isinstance(loaded, dict):
            raise WorkerGone("the worker answered the import with something else")
        self.kinds = {str(k): str(v) for k, v in dict(loaded.get("kinds", {})).items()}
        self.params = {str(k): list(v) for k, v in dict(loaded.get("params", {})).items()}

    def request(self, message: tuple) -> Any:
        """Send one request and serve callbacks until its reply; WorkerRaised / WorkerGone."""
        try:
            channel.send(self.conn, self._outgoing(message))
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise WorkerGone(self._death()) from None
        while True:
            try:
                reply = channel.receive(self.conn)
            except EOFError:
                raise WorkerGone(self._death()) from None
            except channel.Unreceivable as e:
                raise WorkerRaised({"unreceivable": True, "message": f"returned {e}"}) from None
            kind = reply[0] if isinstance(reply, tuple) and reply else None
            if torch.cuda.is_initialized():
                torch.cuda.ipc_collect()  # free what the worker has let go of since last time
            if kind == "ok":
                return self._incoming(reply[1])
            if kind == "raised" and isinstance(reply[1], dict):
                raise WorkerRaised(reply[1])
            if kind == "callback":
                self._serve_callback(*reply[1:])
                continue
            raise WorkerGone(f"the worker sent a message the harness does not know: {kind!r}")

    def close(self) -> None:
        try:
            channel.send(self.conn, ("bye",))
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        kill_tree(self.proc)
        if self.watch:
            self.watch.done.set()
        self.conn.close()
        self.log.close()

    # ---- values -----------------------------------------------------------------------------

    def _outgoing(self, value: Any) -> Any:
        if _is_data(value) and isinstance(value, torch.Tensor) and value.is_cuda:
            # CUDA IPC cannot send on memory this process received (a worker's earlier output
            # passed back in, as in transpose(transpose(x))): such a tensor goes as a copy
            return value.clone() if value.untyped_storage().data_ptr() in self._received else value
        if isinstance(value, RemoteObject):
            return (HANDLE, value.key, value.type_name)
        if isinstance(value, (list, tuple)):
            return type(value)(self._outgoing(v) for v in value)
        if isinstance(value, dict):
            return {k: self._outgoing(v) for k, v in value.items()}
        if callable(value) and not isinstance(value, type) and not _is_data(value):
            key = next(self._keys)
            self.callbacks[key] = value
            return (CALLBACK, key)
        return value

    def _incoming(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.is_cuda:
            self._received.add(value.untyped_storage().data_ptr())
        if isinstance(value, tuple) and len(value) == 3 and value[0] == HANDLE:
            return RemoteObject(self, value[1], str(value[2]))
        if isinstance(value, (list, tuple)):
            return type(value)(self._incoming(v) for v in value)
        if isinstance(value, dict):
            return {k: self._incoming(v) for k, v in value.items()}
        return value

    def _serve_callback(self, key: Any, args: Any, kwargs: Any) -> None:
        fn = self.callbacks.get(key) if isinstance(key, int) else None
        try:
            if fn is None:
                raise LookupError(f"no callback {key!r}")
            reply = ("ok", fn(*self._incoming(args), **self._incoming(kwargs)))
        except Exception as e:  # noqa: BLE001 - the harness's own check failed: tell the worker
            self.callback_error = e
            reply = ("raised", f"{type(e).__name__}: {e}")
        channel.send(self.conn, reply)

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the implementation's process stopped answering"
        last = tail_line(read_tail(self.log, 8000))
        if self.watch and self.watch.reason:
            return f"the implementation's process {self.watch.reason}"
        if code < 0:
            how = f"died with {signal.Signals(-code).name}"
        else:  # sys.exit or os._exit: the process left in the middle of a call
            how = f"exited early (status {code}: sys.exit or os._exit in the code?)"
        return f"the implementation's process {how}; its last output: {last}"


class RemoteObject:
    """An object that lives in the worker (a RadixCache, a tree node): attribute access calls
    into the worker; identity is the worker's object identity."""

    def __init__(self, client: WorkerClient, key: int, type_name: str):
        self.client, self.key, self.type_name = client, key, type_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteObject) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<{self.type_name} in the worker>"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.client.request(
            ("call", ("handle", self.key, name), args, kwargs)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.client.request(("call", ("handle", self.key, ""), args, kwargs))


def _is_data(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, torch.dtype, torch.device))


def _worker_env(home: Path) -> dict[str, str]:
    """The worker's environment: a throwaway HOME and data dir (the progress store is not its
    to write), the Triton cache where it was (compiling every kernel again costs minutes)."""
    real_home = Path.home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOJO_")}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        TRITON_CACHE_DIR=os.environ.get("TRITON_CACHE_DIR", str(real_home / ".triton" / "cache")),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env
