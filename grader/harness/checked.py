"""Calls into an implementation the way the grader makes them: inputs cloned and checked
unchanged, outputs required to be fresh plain tensors that a later call does not overwrite."""

from __future__ import annotations

import inspect
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from grader.problem.impls import one_line, where_in
from grader.runtime.errors import ImplLoadError, NotAttempted


class ImplError(Exception):
    """The implementation raised; str() says which function, what and where; `original` is
    the exception itself (tests of error contracts look at its type)."""

    def __init__(self, message: str, original: BaseException | None = None):
        super().__init__(message)
        self.original = original


class CheckedImpl:
    """Wraps an implementation module; its entry functions come back as checked callables."""

    def __init__(self, module: types.ModuleType, entries: tuple[str, ...], label: str):
        self.module, self.label = module, label
        self._entries = entries
        self._wrapped: dict[str, CheckedFunction] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.module, name)
        if name not in self._entries or not callable(value):
            return value
        if isinstance(value, type):  # a class entry: its instances' methods are guarded
            return lambda *args, **kwargs: CheckedObject(value, *args, **kwargs)
        if name not in self._wrapped:
            self._wrapped[name] = CheckedFunction(value, name)
        return self._wrapped[name]

    def has(self, name: str) -> bool:
        return callable(getattr(self.module, name, None))


class CheckedFunction:
    def __init__(self, fn: Callable, name: str):
        self.fn, self.name = fn, name
        self.params = _param_names(fn)
        self._last: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        named = _name_inputs(self.params, args, kwargs)
        pristine = {k: v.clone() for k, v in named.items()}
        out = self._invoke(args, kwargs)
        for key, before in pristine.items():
            if not _same(named[key], before):
                raise AssertionError(
                    f"{self.name} modified its input '{key}' (inputs are "
                    "read-only: write results to a new tensor)"
                )
        outs = _tensors(out)
        for i, t in enumerate(outs):
            if type(t) is not torch.Tensor:
                raise AssertionError(
                    f"{self.name} returned a {type(t).__name__} where a torch.Tensor was expected"
                )
            for key, inp in named.items():
                if _overlaps(t, inp):
                    raise AssertionError(
                        f"{self.name}: output {i} shares memory with input "
                        f"'{key}' (return a new tensor, not a view of an input)"
                    )
        self._check_previous(outs)
        self._last = (outs, [t.clone() for t in outs])
        return out

    def _invoke(self, args: tuple, kwargs: dict) -> Any:
        return guarded_call(self.fn, self.name, args, kwargs)

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
    """An instance of a class entry (radix_tree's RadixCache): every method call goes through
    guarded_call, so what the implementation raises is reported as its error, not the test's."""

    def __init__(self, cls: type, *args: Any, **kwargs: Any):
        self._name = cls.__name__
        self._obj = guarded_call(cls, f"{cls.__name__}()", args, kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr
        label = f"{self._name}.{name}"
        return lambda *args, **kwargs: guarded_call(attr, label, args, kwargs)


def guarded_call(fn: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    """fn(*args, **kwargs); a stub's NotImplementedError becomes NotAttempted, anything else
    the implementation raises becomes ImplError naming the function, the error and the line."""
    try:
        return fn(*args, **kwargs)
    except (NotAttempted, ImplLoadError, ImplError):
        raise
    except Exception as e:  # noqa: BLE001 - whatever the attempt raised is reported as such
        src = _source_of(fn, name)
        if isinstance(e, NotImplementedError) and _raised_in(e, src):
            raise NotAttempted(f"{name} still raises NotImplementedError: edit {src.name}") from e
        raise ImplError(f"{name} raised {one_line(e)} ({where_in(e, src)})", e) from e


def _source_of(fn: Callable, name: str) -> Path:
    try:
        return Path(inspect.getsourcefile(fn) or name)
    except (OSError, TypeError):  # builtins and classes made at run time have no file
        return Path(name)


def _raised_in(e: BaseException, src: Path) -> bool:
    """True when a `raise` statement in the implementation's own file raised it (the stub), not
    a library call made from that file."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames or Path(frames[-1].filename).resolve() != src.resolve():
        return False
    return (frames[-1].line or "").lstrip().startswith("raise")


def _param_names(fn: Callable) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _name_inputs(params: list[str], args: tuple, kwargs: dict) -> dict[str, torch.Tensor]:
    named = {}
    for i, a in enumerate(args):
        key = params[i] if i < len(params) else f"arg{i}"
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


def _tensors(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return [out] if isinstance(out, torch.Tensor) or out is not None and not _scalar(out) else []


def _scalar(x: Any) -> bool:
    return isinstance(x, (int, float, bool, str))


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
