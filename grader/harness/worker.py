"""The attempt's own process (`python -m grader.harness.worker FD SLUG IMPL ROOT`): it imports the
implementation and runs what the harness asks, nothing more. It decides nothing: whatever it
sends back is checked in the harness, which never imports the attempt."""

from __future__ import annotations

import faulthandler
import importlib.util
import os
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from grader.runtime.device import enable_interpreter_if_no_gpu

enable_interpreter_if_no_gpu()  # before the attempt can import triton

import torch  # noqa: E402

from grader.harness.crossing import own_memory, param_names, settle, unaliased  # noqa: E402
from grader.harness.faults import describe  # noqa: E402
from grader.harness.hooks import hooks_for  # noqa: E402
from grader.harness.rules_watch import Watch  # noqa: E402
from grader.harness.seal import Seal  # noqa: E402
from grader.problem.impls import load, resolve  # noqa: E402
from grader.problem.registry import get_problem  # noqa: E402
from grader.problem.rules import RULED, allowed_imports  # noqa: E402
from grader.runtime import wire as channel  # noqa: E402
from grader.runtime.timing import sample_gpu  # noqa: E402
from grader.runtime.wire import CALLBACK, HANDLE  # noqa: E402
from grader.sandbox.process import undumpable  # noqa: E402


class Worker:
    def __init__(self, conn: Connection):
        self.conn, self.module, self.problem, self.source = conn, None, None, Path("attempt")
        self.objects: dict[int, Any] = {}
        self.staged: tuple | None = None  # (fn, args, kwargs) for the next "run"
        self.result: tuple | None = None  # (fn, args, kwargs, output) of the last "run"
        self.watch: Watch | None = None  # the dynamic rule check, for attempts and solutions
        self.seal = Seal.worker(globals(), Worker)  # before the attempt is imported

    # ---- values crossing the wire -----------------------------------------------------------

    def export(self, value: Any) -> Any:
        """Data goes as itself (tensors through shared memory); any other object stays here and
        crosses as a handle the harness can call methods on."""
        if type(value) is torch.Tensor and (value.device.type == "meta" or value.is_sparse):
            return (HANDLE, 0, f"tensor with no real storage ({value.device.type}, {value.layout})")
        if type(value) is torch.Tensor or value is None or type(value) in (int, float, bool, str):
            return value
        if type(value) in (list, tuple):
            return type(value)(self.export(v) for v in value)
        if type(value) is dict and all(type(k) in (str, int) for k in value):
            return {k: self.export(v) for k, v in value.items()}
        if isinstance(value, (torch.dtype, torch.device)):
            return value
        self.objects[id(value)] = value
        return (HANDLE, id(value), type(value).__name__)

    def materialise(self, value: Any) -> Any:
        if isinstance(value, tuple) and len(value) == 3 and value[0] == HANDLE:
            return self.objects[value[1]]
        if isinstance(value, tuple) and len(value) == 2 and value[0] == CALLBACK:
            return self._callback(value[1])
        if type(value) in (list, tuple):
            return type(value)(self.materialise(v) for v in value)
        if type(value) is dict:
            return {k: self.materialise(v) for k, v in value.items()}
        return value

    def _callback(self, key: int) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            channel.send(self.conn, ("callback", key, self.export(args), self.export(kwargs)))
            kind, value = channel.receive_trusted(self.conn)
            if kind == "raised":
                raise RuntimeError(value)
            return value

        return call

    # ---- requests ----------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            try:
                request = channel.receive_trusted(self.conn)
            except EOFError:
                return
            if request[0] == "bye":
                return
            reply = self.handle(request)
            try:
                channel.send(self.conn, reply)
            except Exception as e:  # noqa: BLE001 - a value that cannot cross (a meta tensor)
                info = describe(e, self.source)
                info["message"] = f"returned a value that cannot be sent to the harness: {e}"
                channel.send(self.conn, ("raised", info))

    def handle(self, request: tuple) -> tuple:
        op, *args = request
        try:
            if op == "load":
                return ("ok", self.load(*args))
            if op == "rules":
                return ("ok", self.rule_report())
            if op == "release":
                for key in args[0]:
                    self.objects.pop(key, None)
                return ("ok", None)
            if op == "trim":  # cached GPU memory back to the device, for the other processes
                if torch.cuda.is_initialized():
                    torch.cuda.empty_cache()
                return ("ok", None)
            if op in ("run", "fetch"):
                return ("ok", self.run() if op == "run" else self.fetch())
            fn, label = self.target(*args[0])
            if op == "get":
                return ("ok", self.export(fn))
            call_args, kwargs = self.materialise(args[1]), self.materialise(args[2])
            if op == "stage":
                self.staged, self.result = (fn, call_args, kwargs), None
                return ("ok", None)
            if op == "time":  # one GPU sample, timed with CUDA events here
                if self.seal.broken():
                    return ("raised", self.refusal())
                call_args, kwargs = own_memory(call_args), own_memory(kwargs)
                torch.cuda.synchronize()  # the copies are done, whatever stream the call uses
                ms, out = sample_gpu(lambda: fn(*call_args, **kwargs))
                return ("ok", (ms, self.export(unaliased(out, fn, call_args, kwargs))))
            with self.watching(args[0][0]):
                out = fn(*call_args, **kwargs)
                settle()
            return ("ok", self.export(unaliased(out, fn, call_args, kwargs)))
        except BaseException as e:  # noqa: BLE001 - everything the attempt raises is reported
            return ("raised", describe(e, self.source))

    def rule_report(self) -> list[dict[str, Any]] | None:
        """The watch's records, and the grader's machinery the attempt replaced (seal.py)."""
        if self.watch is None:
            return None
        replaced = [
            {"file": str(self.source), "line": 0, "verb": "replaces", "name": name}
            for name in self.seal.broken()
        ]
        return [*self.watch.found, *replaced]

    def refusal(self) -> dict[str, Any]:
        names = self.seal.broken()
        more = f" (+{len(names) - 1} more)" if len(names) > 1 else ""
        why = f"replaced {names[0]}{more}, part of the grader's clock: its times are refused"
        return {"tampered": True, "message": why}

    def run(self) -> None:
        """A CPU sample in three requests (stage, run, fetch) so the one the harness times carries
        neither the inputs nor the output; the harness charges any excess time an attempt spends
        in the other two (grader.perf.score), so work cannot hide there."""
        if self.staged is None:
            raise RuntimeError("run without staged inputs")
        fn, call_args, kwargs = self.staged
        self.staged, self.result = None, (fn, call_args, kwargs, fn(*call_args, **kwargs))

    def fetch(self) -> Any:
        if self.result is None:
            raise RuntimeError("fetch without a run")
        fn, call_args, kwargs, out = self.result
        self.result = None
        return self.export(unaliased(out, fn, call_args, kwargs))

    def load(self, slug: str, spec: str, root: str) -> dict[str, Any]:
        """Import the implementation; say which entries it defines and their parameter names."""
        problem = self.problem = get_problem(slug, Path(root))
        ref = resolve(problem, spec, Path(root))
        if ref.kind in RULED:
            self.watch = Watch(problem.rules, Path(root), allowed_imports(ref.kind, slug))
        with self.watching():
            self.module = load(problem, ref)
        if self.watch:
            self.watch.refresh()
        self.source = ref.path or Path(f"{slug}_{spec}")
        kinds, params = {}, {}
        for name in (*problem.entry, *problem.optional):
            value = getattr(self.module, name, None)
            kinds[name] = (
                "class" if isinstance(value, type) else "function" if callable(value) else ""
            )
            params[name] = param_names(value) if kinds[name] == "function" else []
        return {"kinds": kinds, "params": params}

    def watching(self, target: str = "module") -> AbstractContextManager[None]:
        """The rule watch around the attempt's import and its checked calls; not around the
        perf hooks (bench_extra times what it runs) nor timed calls."""
        watched = self.watch is not None and target in ("module", "handle", "helper")
        return self.watch.watching() if watched else nullcontext()

    def target(self, kind: str, name: str = "", *rest: Any) -> tuple[Any, str]:
        """('module', attr) | ('handle', id, attr) | ('helper', file, qualname) |
        ('bench_target' | 'bench_extra', device) | ('notes',): helpers and hooks are the
        grader's own code, run here on the implementation module; the harness checks results."""
        if kind in ("bench_target", "bench_extra", "notes"):
            return self.hook(kind, name)
        if kind == "module":
            return getattr(self.module, name), name
        if kind == "handle":
            obj = self.objects[name]
            return (getattr(obj, rest[0]) if rest[0] else obj), f"{type(obj).__name__}.{rest[0]}"
        fn = _import_helper(name, rest[0])
        return (lambda *a, **k: fn(self.module, *a, **k)), rest[0]

    def hook(self, kind: str, device: str) -> tuple[Any, str]:
        hooks = hooks_for(self.problem)
        if kind == "notes":
            return (lambda: hooks.notes(self.module)), "notes"
        perf = self.problem.perf[device]
        if kind == "bench_extra":
            return (lambda: hooks.bench_extra(self.module, perf)), "bench_extra"
        return hooks.bench_target(self.module, perf), perf.entry


def _import_helper(file: str, qualname: str) -> Callable[..., Any]:
    name = f"dojo_helper_{abs(hash(file))}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def main(fd: int) -> None:
    conn = Connection(socket.socket(fileno=fd).detach())
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck worker's stacks, on ask
    undumpable()  # the reference's worker, say, is no business of the attempt's beside it
    Worker(conn).serve()
    os._exit(0)  # no atexit handlers of the attempt's


if __name__ == "__main__":
    main(int(sys.argv[1]))
