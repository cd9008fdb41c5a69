"""One rank of a grader.runtime.ranks pool (`python -m grader.runtime.rank_worker CONN LIFELINE`):
joins the process group, then runs the functions the parent sends until told to stop, sending
back each result or error; it exits when the parent goes away."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from grader.runtime import wire


def _serve(conn_fd: int, lifeline_fd: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(lifeline_fd,), daemon=True).start()
    conn = Connection(conn_fd)
    # This file runs as __main__; code on the rank imports it by name: set both modules' _CONN.
    for module in (sys.modules[__name__], importlib.import_module("grader.runtime.rank_worker")):
        module._CONN = conn
    rank, world_size, backend, port, pg_timeout = wire.receive_trusted(conn)
    try:
        _join(rank, world_size, backend, port, pg_timeout)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises RankFailure
        wire.send(conn, ("error", _error_info(e)))
        _exit(1)
    wire.send(conn, ("ready", None))
    while True:
        try:
            msg = wire.receive_trusted(conn)
        except EOFError:
            break
        if msg[0] == "stop":
            break
        wire.send(conn, _call(*msg[1:]))
    import torch.distributed as dist

    dist.destroy_process_group()
    _exit(0)


def _exit(code: int) -> None:
    """Leave without the interpreter's teardown of torch (seconds per rank on a busy CPU)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _join(rank: int, world_size: int, backend: str, port: int, pg_timeout: float) -> None:
    import torch
    import torch.distributed as dist

    timeout = timedelta(seconds=pg_timeout)
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=timeout)
    extra = {}
    if backend == "nccl":  # one GPU per rank; device_id binds the communicator to it eagerly
        torch.cuda.set_device(rank)
        extra["device_id"] = torch.device("cuda", rank)
    dist.init_process_group(
        backend, store=store, rank=rank, world_size=world_size, timeout=timeout, **extra
    )


_CONN: Connection | None = None


def ask_parent(name: str, *args: Any) -> Any:
    """Call serve[name](this rank, *args) in the process that runs the pool (Ranks.run's
    `serve`), and return its answer: how a harness sees what each rank does, as it does it."""
    wire.send(_CONN, ("callback", (name, args)))
    kind, value = wire.receive_trusted(_CONN)
    if kind != "ok":
        raise RuntimeError(f"the parent could not answer {name}: {value}")
    return value


def _call(target: tuple[str, str | None, str], args: tuple) -> tuple:
    try:
        return ("ok", _resolve(*target)(*args))
    except BaseException as e:  # noqa: BLE001 - pytest.fail/skip are BaseExceptions too
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return ("error", _error_info(e))


def barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


def _resolve(module_name: str, file: str | None, qualname: str) -> Callable:
    module = _import(module_name, file)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _import(name: str, file: str | None):
    """The module by name when that is the same file; else the file itself (pytest's importlib
    mode gives test modules names that other processes cannot import)."""
    try:
        module = importlib.import_module(name)
        if file is None or _same_file(getattr(module, "__file__", None), file):
            return module
    except ImportError:
        if file is None:
            raise
    alias = f"dojo_rank_{Path(file).stem}_{abs(hash(file))}"
    if alias not in sys.modules:
        spec = importlib.util.spec_from_file_location(alias, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module
        spec.loader.exec_module(module)
    return sys.modules[alias]


def _same_file(a: str | None, b: str) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()


def _error_info(e: BaseException) -> dict[str, Any]:
    text = str(e).strip().splitlines()
    summary = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    return {
        "type": type(e).__name__,
        "message": str(e),
        "assertion": isinstance(e, AssertionError),
        "summary": summary,
        "traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__)),
    }


def _exit_with_parent(fd: int) -> None:
    """Blocks until the parent closes the lifeline or dies, then ends this rank at once, even
    if its main thread is stuck inside a collective."""
    while os.read(fd, 1):
        pass
    os._exit(3)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
