"""What an entry function returned, checked before any test computes with it: a tensor, or a
tuple or list of tensors; anything else is named in a person's words."""

from __future__ import annotations

from typing import Any

import torch

from grader.harness.client import RemoteObject


def output_tensors(name: str, out: Any, where: str = "") -> list[torch.Tensor]:
    """The tensors of an entry function's output: a tensor, or a tuple or list of them (every
    entry returns those). Anything else (a list of numbers, a NumPy array, None) is the
    implementation's mistake, said here before a test computes with it."""
    if type(out) is torch.Tensor:
        return [out]
    if isinstance(out, (tuple, list)) and _holds_a_tensor(out):
        kind = type(out).__name__
        return [t for i, o in enumerate(out) for t in output_tensors(name, o, f"{kind} item {i}")]
    kind = _kind(out)
    todo = {"None": ": is a `return` missing?", "a NumPy array": ": compute it with torch ops"}
    at = f" as its {where}" if where else ""
    raise AssertionError(
        f"{name} returned {kind}{at} where a torch.Tensor was expected{todo.get(kind, '')}"
    )


def _kind(x: Any) -> str:
    """What a returned value is, in a person's words: 'a list of 3 floats', 'a NumPy array'."""
    if x is None:
        return "None"
    if isinstance(x, RemoteObject):
        return "a NumPy array" if x.type_name == "ndarray" else f"a {x.type_name}"
    if isinstance(x, (tuple, list)):
        inner = "/".join(sorted({type(o).__name__ for o in x})) or "item"
        return f"a {type(x).__name__} of {len(x)} {inner}{'s' * (len(x) != 1)}"
    name = type(x).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _holds_a_tensor(x: Any) -> bool:
    if isinstance(x, (tuple, list)):
        return any(_holds_a_tensor(o) for o in x)
    return isinstance(x, (torch.Tensor, RemoteObject))
