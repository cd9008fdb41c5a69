"""Generic null answers (zeros, an input copy, the reference computed in float16) that every
problem's tolerances must reject; built from the reference, selected with --impl null:<kind>.
For fp16: the reference's `<entry>_fp16` where it defines one (problems whose inputs are
already half, where casting them changes nothing), else the reference on float16 inputs."""

from __future__ import annotations

import functools
import importlib
import types
from collections.abc import Callable
from typing import Any

import torch

from grader.problem.spec import Problem
from grader.runtime.errors import ImplLoadError

NULL_KINDS = ("zeros", "copy", "fp16")


def null_module(problem: Problem, kind: str) -> types.ModuleType:
    ref = importlib.import_module(f"reference.{problem.slug}")
    module = types.ModuleType(f"dojo_null_{problem.slug}_{kind}")
    for name in problem.entry:
        fn = getattr(ref, name)
        if isinstance(fn, type):
            raise ImplLoadError(
                f"null answers apply to function problems; {problem.slug}.{name} is a class"
            )
        half = getattr(ref, f"{name}_fp16", None)  # the reference's own half-precision version
        setattr(module, name, half if kind == "fp16" and half is not None else _NULLS[kind](fn))
    return module


def _zeros(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _map_tensors(fn(*args, **kwargs), torch.zeros_like)

    return wrapper


def _copy(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        first = next(a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor))
        return _map_tensors(fn(*args, **kwargs), lambda out: _like(first, out))

    return wrapper


def _fp16(fn: Callable) -> Callable:
    """The reference run on float16 copies of every floating input, cast back to the true dtype."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        true_out = fn(*args, **kwargs)
        half = _map_tensors((args, kwargs), _to_half)
        out = fn(*half[0], **half[1])
        flat_true, flat = _flatten(true_out), _flatten(out)
        cast = [
            o.to(t.dtype) if isinstance(o, torch.Tensor) else o for o, t in zip(flat, flat_true)
        ]
        return _unflatten(true_out, iter(cast))

    return wrapper


def _like(src: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """A copy of the input shaped like the output where the element counts allow it."""
    copy = src.detach().clone()
    if copy.numel() == out.numel():
        copy = copy.reshape(out.shape)
    return (
        copy.to(out.dtype) if out.dtype.is_floating_point == copy.dtype.is_floating_point else copy
    )


def _to_half(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float16) if t.is_floating_point() else t


def _map_tensors(obj: Any, f: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return f(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, f) for o in obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, f) for k, v in obj.items()}
    return obj


def _flatten(obj: Any) -> list:
    return [x for o in obj for x in _flatten(o)] if isinstance(obj, (tuple, list)) else [obj]


def _unflatten(like: Any, it: Any) -> Any:
    if isinstance(like, (tuple, list)):
        return type(like)(_unflatten(o, it) for o in like)
    return next(it)


_NULLS = {"zeros": _zeros, "copy": _copy, "fp16": _fp16}
