"""Calls into an implementation the way the grader makes them: through its worker process, with
inputs that must come back unchanged and outputs that must be fresh plain tensors a later call
does not overwrite. Every check is made here, in the harness, where the attempt cannot reach."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from grader.harness.client import RemoteObject, WorkerClient, WorkerGone, WorkerRaised
from grader.harness.outputs import output_tensors
from grader.problem.impls import ImplRef
from grader.problem.spec import Problem
from grader.runtime.device import cuda_count
from grader.runtime.errors import INTERPRETER_GAP, ImplLoadError, NotAttempted

_NO_CUDA = re.compile(r"cupy|cuda|nvrtc|libcu", re.I)


class ImplError(Exception):
    """The implementation raised or its process died; str() says which function, what and where.
    `kind` is the exception's type name in the worker ("died" for a dead process)."""

    def __init__(
        self, message: str, kind: str = "", cuda_fault: bool = False, bases: tuple[str, ...] = ()
    ):
        super().__init__(message)
        self.kind, self.cuda_fault, self.bases = kind, cuda_fault, bases or (kind,)

    def raised(self, *names: str) -> bool:
        """Whether the implementation raised one of these exception types (or a subclass)."""
        return any(name in self.bases for name in names)


class InterpreterGap(ImplError):
    """The kernel uses what the Triton interpreter lacks: the check needs a GPU (needs_gpu)."""


def open_impl(problem: Problem, ref: ImplRef, root: Path) -> CheckedImpl:
    """Start the implementation's worker and import it there; ImplLoadError / NotAttempted /
    NeedsGpu when it does not import. The caller closes it with `.client.close()`."""
    client = WorkerClient(problem)
    try:
        client.load(problem.slug, ref, root)
    except (WorkerRaised, WorkerGone) as e:
        client.close()
        error = harness_error(e, "import")
        if problem.language == "cuda" and cuda_count() == 0 and _NO_CUDA.search(str(error)):
            raise NeedsGpu(f"{ref.spec} needs CUDA to import ({error})") from None
        if isinstance(error, ImplError):  # import-time failures are load errors, one line
            raise ImplLoadError(str(error).removeprefix("import raised ")) from None
        raise error from None
    return CheckedImpl(client, problem.entry + problem.optional, ref.spec)


class NeedsGpu(Exception):
    """A CUDA implementation that cannot even import without a GPU (it imports CuPy, say)."""


class CheckedImpl:
    """The implementation under test: entry functions come back as checked callables, class
    entries as constructors of checked remote objects; `module` reads anything else."""

    def __init__(self, client: WorkerClient, entries: tuple[str, ...], label: str):
        self.client, self.label = client, label
        self._entries = entries
        self._wrapped: dict[str, CheckedFunction] = {}
        self.module = RemoteModule(client)

    def __getattr__(self, name: str) -> Any:
        kind = self.client.kinds.get(name, "")
        if name not in self._entries or not kind:
            raise AttributeError(f"{self.label} defines no {name}")
        if kind == "class":
            return lambda *args, **kwargs: CheckedObject(self.client, name, args, kwargs)
        if name not in self._wrapped:
            self._wrapped[name] = CheckedFunction(self.client, name)
        return self._wrapped[name]

    def has(self, name: str) -> bool:
        return bool(self.client.kinds.get(name))


class RemoteModule:
    """Attributes of the implementation module: data comes back as itself, functions and other
    objects as remote objects that call into the worker."""

    def __init__(self, client: WorkerClient):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            got = remote(self._client, ("get", ("module", name), None, None), name)
        except ImplError as e:
            if e.kind == "AttributeError":
                raise AttributeError(f"the module has no attribute {name!r}") from None
            raise
        return NamedRemote(got, name) if isinstance(got, RemoteObject) else got


class NamedRemote(RemoteObject):
    """A function or object of the module (smem_offset, say): what a call into it raises is
    the implementation's error under its name, like an entry's, not the client's WorkerRaised."""

    def __init__(self, obj: RemoteObject, label: str):
        super().__init__(obj.client, obj.key, obj.type_name)
        self.label = label

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        target, label = ("handle", self.key, name), f"{self.label}.{name}"
        return lambda *a, **k: remote(self.client, ("call", target, a, k), label)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return remote(self.client, ("call", ("handle", self.key, ""), args, kwargs), self.label)


class CheckedFunction:
    def __init__(self, client: WorkerClient, name: str):
        self.client, self.name = client, name
        self._last: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        named = _name_inputs(self.client.params.get(self.name, []), args, kwargs)
        pristine = {k: v.clone() for k, v in named.items()}
        out = remote(self.client, ("call", ("module", self.name), args, kwargs), self.name)
        for key, before in pristine.items():
            if not _same(named[key], before):
                raise AssertionError(
                    f"{self.name} modified its input '{key}' (inputs are "
                    "read-only: write results to a new tensor)"
                )
        outs = output_tensors(self.name, out)
        for i, t in enumerate(outs):
            for key, inp in named.items():
                if _overlaps(t, inp):
                    raise AssertionError(
                        f"{self.name}: output {i} shares memory with input "
                        f"'{key}' (return a new tensor, not a view of an input)"
                    )
        self._check_previous(outs)
        self._last = (outs, [t.clone() for t in outs])
        return out

    def _check_previous(self, outs: list[torch.Tensor]) -> None:
        if self._last is None:
            return
        prev, snapshot = self._last
        for p, snap in zip(prev, snapshot):
            if any(_overlaps(p, t) for t in outs) or not _same(p, snap):
                raise AssertionError(
                    f"{self.name} overwrote the output of its previous call "
                    "(stale or reused output buffer: allocate a new output "
                    "for every call)"
                )


class CheckedObject:
    """An instance of a class entry (radix_tree's RadixCache) living in the worker; what its
    methods raise is reported as the implementation's error, not the test's."""

    def __init__(self, client: WorkerClient, cls: str, args: tuple, kwargs: dict):
        self._client, self._name = client, cls
        self._obj = remote(client, ("call", ("module", cls), args, kwargs), f"{cls}()")

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        label = f"{self._name}.{name}"
        key = self._obj.key
        return lambda *a, **k: remote(self._client, ("call", ("handle", key, name), a, k), label)


def run_in_worker(impl: CheckedImpl, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(module, *args) run inside the implementation's worker, where its kernels live (fn: a
    module-level function of a grader or test file, imported there by path). Only data comes
    back, and the harness checks it; nothing the attempt's code does there reaches the harness."""
    target = ("helper", inspect.getsourcefile(fn), fn.__qualname__)
    return remote(impl.client, ("call", target, args, {}), fn.__name__)


def remote(client: WorkerClient, request: tuple, name: str) -> Any:
    """client.request, with what went wrong in the worker as the harness's own exception."""
    try:
        return client.request(request)
    except (WorkerRaised, WorkerGone) as e:
        raise harness_error(e, name) from None


def harness_error(e: WorkerRaised | WorkerGone, name: str) -> Exception:
    """NotAttempted for a stub, ImplLoadError for a compile error, ImplError for the rest."""
    if isinstance(e, WorkerGone):
        return ImplError(f"{name}: {e}", "died")
    info = e.info
    if info.get("unreceivable") or info.get("tampered"):
        return AssertionError(f"{name} {info['message']}")
    if info.get("not_attempted"):
        edit = str(info.get("where", "")).split(":")[0] or "the attempt"
        message = str(info.get("message", ""))
        if "NotImplementedError" not in message and message:  # a CUDA stub says what to do
            return NotAttempted(message.split(": ", 1)[-1])
        return NotAttempted(f"{name} still raises NotImplementedError: edit {edit}")
    if info.get("load_error"):
        return ImplLoadError(str(info.get("message", "")).split(": ", 1)[-1])
    where = info.get("where", "?")
    bases = tuple(str(b) for b in info.get("bases", ()) if isinstance(b, str))
    if info.get("interpreter_gap"):  # "inline_asm not supported in interpreter mode"
        feature = str(info["interpreter_gap"]).split(" not supported")[0]
        text = f"{name}'s kernel uses {feature} ({where}), {INTERPRETER_GAP}: check it on a GPU"
        return InterpreterGap(text, str(info.get("type", "")))
    trace = [f"\n  {line}" for line in info.get("trace", ()) if isinstance(line, str)]
    text = f"{name} raised {info.get('message', '')} ({where})" + "".join(trace)
    if info.get("type") == "TypeError" and not re.search(r":\d+$", str(where)):
        text = (  # raised binding the arguments, before a line of the attempt ran
            f"{name} cannot be called as the tests call it ({info.get('message', '')}): keep "
            "the parameter names, order and defaults of the stub's signature (attempt.py)"
        )
    return ImplError(text, str(info.get("type", "")), bool(info.get("cuda_fault")), bases)


def _name_inputs(params: list[str], args: tuple, kwargs: dict) -> dict[str, torch.Tensor]:
    named = {}
    for i, a in enumerate(args):
        key = str(params[i]) if i < len(params) else f"arg{i}"
        named.update(_tensor_leaves(key, a))
    for k, v in kwargs.items():
        named.update(_tensor_leaves(k, v))
    return named


def _tensor_leaves(key: str, value: Any) -> dict[str, torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return {key: value}
    if isinstance(value, (tuple, list)):
        out = {}
        for i, v in enumerate(value):
            out.update(_tensor_leaves(f"{key}[{i}]", v))
        return out
    return {}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        return bool(((a == b) | (a.isnan() & b.isnan())).all())
    return bool((a == b).all())


def _overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.device != b.device or a.numel() == 0 or b.numel() == 0:
        return False
    sa, sb = a.untyped_storage(), b.untyped_storage()
    a0, b0 = sa.data_ptr(), sb.data_ptr()
    return a0 < b0 + sb.nbytes() and b0 < a0 + sa.nbytes()
