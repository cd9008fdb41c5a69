"""The grader's own machinery in the attempt's process, fingerprinted before the attempt is
imported: the functions and modules a clock and the replies go through (the worker's globals
and methods, the timing and wire modules, ep_all_to_all's rank timing, torch.cuda.Event,
torch.cuda.synchronize, time.perf_counter). An attempt that rebinds one, or swaps a function's
code, is named by `Seal.broken()`: the worker refuses to time it and its rule check fails
(tests/sandbox/bad_attempts/reports_its_own_time.py).

Limits, honestly: like the rule watch, this runs in the attempt's process, which could patch
this module too. It is defence in depth behind the source check (which names any reach into
the worker's module or frames): a tampered clock takes deliberate work on the grader's own
code, and never goes through as a number that nobody remarked."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

from grader.runtime import timing, wire

_VALUES = (ModuleType, type, int, float, str)  # and callables: what a namespace binds for good
TORCH = {  # what every clock here goes through
    "torch.cuda.Event": lambda: torch.cuda.Event,
    "torch.cuda.Event.record": lambda: torch.cuda.Event.record,
    "torch.cuda.Event.elapsed_time": lambda: torch.cuda.Event.elapsed_time,
    "torch.cuda.Event.synchronize": lambda: torch.cuda.Event.synchronize,
    "torch.cuda.synchronize": lambda: torch.cuda.synchronize,
    "torch.cuda._sleep": lambda: torch.cuda._sleep,
    "torch.Tensor.zero_": lambda: torch.Tensor.zero_,
    "time.perf_counter": lambda: time.perf_counter,
}


class Seal:
    """Fingerprints of whole namespaces (name prefix -> the dict, read again at each check) and
    of single objects (name -> a getter), taken when the seal is made."""

    def __init__(self, spaces: dict[str, Callable[[], dict]], objects: dict[str, Callable]):
        self._spaces, self._objects = spaces, {**TORCH, **objects}
        self._marks = self._take()

    @classmethod
    def worker(cls, main: dict[str, Any], worker_class: type) -> Seal:
        """The grader's worker: its module's globals (`main`), its class, timing and wire."""
        spaces = {
            "the worker's ": lambda: main,
            "the worker's Worker.": lambda: vars(worker_class),
            "grader.runtime.timing.": lambda: vars(timing),
            "grader.runtime.wire.": lambda: vars(wire),
        }
        return cls(spaces, {})

    def broken(self) -> list[str]:
        """The names bound to something else, or whose code changed, since the seal was made."""
        now = self._take()
        return sorted(name for name, mark in self._marks.items() if now.get(name) != mark)

    def _take(self) -> dict[str, tuple]:
        marks = {}
        for prefix, space in self._spaces.items():
            for key, value in list(space().items()):
                if (callable(value) or isinstance(value, _VALUES)) and not key.startswith("__"):
                    marks[prefix + key] = _mark(value)
        for name, get in self._objects.items():
            marks[name] = _mark(get())
        return marks


def _mark(value: Any) -> tuple:
    """Identity, and for a function the identity of its code (patched in place, `f.__code__ =
    g.__code__`, the function object stays the same); plain values by value."""
    if isinstance(value, (int, float, str)):
        return ("value", value)
    code = getattr(getattr(value, "__func__", value), "__code__", None)
    return (id(value), id(code))
