"""The dynamic rule check, in the worker: while the attempt imports and runs, a TorchFunctionMode
sees every torch function, Tensor method, property and torch.ops call however it was spelled
(getattr(torch, "soft" + "max") included), an __import__ hook sees every import statement, and
an audit hook sees every file opened (a shipped solution's source read and exec'd is an import
by other means); forbidden ones made from the attempt's own code are recorded for the harness.

Limits, honestly: the attempt runs in this process and can undo all of it (pop the mode, restore
__import__, patch this module, or behave differently when it sees the mode), so this layer is
defence in depth behind the static one, which the harness runs where the attempt cannot reach.
Timed calls (`dojo bench`) are not watched: the mode's Python overhead would be timed with them.
Calls of compiled extensions and NumPy are not torch functions and are not seen."""

from __future__ import annotations

import builtins
import importlib
import os
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from grader.harness.rules_ast import forbidden_module, holds_api
from grader.problem.rules import Rules

_LIBRARIES = tuple(
    {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
) + (str(Path(torch.__file__).parent),)
# methods that convert values between dtypes (rules.casts); views and allocations do not
_CONVERTERS = frozenset(
    ("to", "type", "type_as", "copy_", "__setitem__", "float", "half", "double", "bfloat16")
)


class Watch:
    """Records (file, line, verb, name) of forbidden calls and imports made by the attempt's
    code: a frame outside the libraries, the grader and the reference (whose frames count for
    whoever called them)."""

    def __init__(self, rules: Rules, root: Path, allowed: tuple[str, ...] = ()):
        self.rules, self.allowed = rules, allowed
        # files read count as imports for the answer's modules, not the grader's own sources
        self.answers = tuple(m for m in rules.imports if m in ("reference", "solutions"))
        self.targets: dict[int, tuple[Any, str]] = {}
        self.refresh()
        self.casts = {getattr(torch, c) for c in rules.casts if hasattr(torch, c)}
        self.passthrough = (*_LIBRARIES, __file__, str(root / "reference"))
        self.grader = (str(root / "grader"), str(Path(__file__).parents[1]))
        self.problems = root / "problems"
        self.root, self.found, self.active = root.resolve(), [], False
        self.mode = _Mode(self)
        sys.addaudithook(self._audit)  # for the process's life: it acts only while active

    def refresh(self) -> None:
        """Resolve the forbidden names again: the attempt may have imported more of torch."""
        self.targets = {id(obj): (obj, name) for name, obj in _objects(self.rules.forbidden)}

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Watch what runs inside the block (the attempt's import, or one call of it)."""
        real_import, real_import_module = builtins.__import__, importlib.import_module
        builtins.__import__ = self._importer(real_import)
        importlib.import_module = self._importer(real_import_module)
        self.active = True
        try:
            with self.mode:
                yield
        finally:
            builtins.__import__, importlib.import_module = real_import, real_import_module
            self.active = False

    def _audit(self, event: str, args: tuple) -> None:
        """An `open` of a file under reference/ or solutions/ counts as importing it."""
        if not (self.active and event == "open" and isinstance(args[0], (str, bytes))):
            return
        self.active = False  # what this does below opens nothing, but never recurse
        try:
            path = Path(os.path.realpath(os.fsdecode(args[0])))
            if path.is_relative_to(self.root):
                name = _module_name(path.relative_to(self.root))
                parent = any(a.startswith(name + ".") for a in self.allowed)  # its package
                if forbidden_module(name, self.answers, self.allowed) and not parent:
                    self.record("reads", path.relative_to(self.root).as_posix())
        finally:
            self.active = True

    def _importer(self, real: Any) -> Any:
        """`real` (__import__ or importlib.import_module), recording forbidden absolute names."""

        def watched(name: str, *args: Any, **kwargs: Any) -> Any:
            level = kwargs.get("level", args[3] if len(args) > 3 else 0)
            if not (level or name.startswith(".")):
                fromlist = kwargs.get("fromlist", args[2] if len(args) > 2 else None)
                for module in _imported(name, fromlist):
                    if forbidden_module(module, self.rules.imports, self.allowed):
                        self.record("imports", module)
            return real(name, *args, **kwargs)

        return watched

    def record(self, verb: str, name: str) -> None:
        where = self.culprit()
        if where is not None:
            entry = {"file": where[0], "line": where[1], "verb": verb, "name": name}
            if entry not in self.found:
                self.found.append(entry)

    def culprit(self) -> tuple[str, int] | None:
        """The innermost frame that is neither a library's nor this module's: the attempt's
        (file, line), or None when it is the grader's own code (a test helper, a hook)."""
        frame = sys._getframe(1)
        while frame is not None:
            path = frame.f_code.co_filename
            if not (path.startswith("<") or path.startswith(self.passthrough)):
                return None if self._graders(Path(path)) else (path, frame.f_lineno)
            frame = frame.f_back
        return None

    def _graders(self, path: Path) -> bool:
        if str(path).startswith(self.grader):
            return True
        own = path.parent.parent == self.problems
        return own and (path.name == "hooks.py" or path.name.startswith("test_"))

    def check_call(self, func: Any) -> None:
        hit = self.targets.get(id(_key(func)))
        if hit is not None:
            self.record("calls", hit[1])

    def check_cast(self, func: Any, args: tuple, out: Any) -> None:
        if not self.casts or getattr(func, "__name__", "") not in _CONVERTERS:
            return
        dtypes = {a.dtype for a in (*args, out) if isinstance(a, torch.Tensor)}
        hit = dtypes & self.casts
        if hit and len(dtypes) > 1:
            self.record("converts", f"between {' and '.join(sorted(map(str, dtypes)))}")


class _Mode(TorchFunctionMode):
    def __init__(self, watch: Watch):
        super().__init__()
        self.watch = watch

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.watch.check_call(func)
        out = func(*args, **(kwargs or {}))
        self.watch.check_cast(func, args, out)
        return out


def _imported(name: str, fromlist: Any) -> list[str]:
    """What an import statement names: `from grader.runtime import cuda` is grader.runtime.cuda
    (the package holds the attempts' API), anything else the module itself."""
    if holds_api(name) and fromlist and not isinstance(fromlist, str):
        return [f"{name}.{n}" for n in fromlist if isinstance(n, str)]
    return [name]


def _module_name(path: Path) -> str:
    """solutions/x/y.py (or its .pyc, or a .cu beside it) -> solutions.x.y; a package: its name."""
    parts = [p for p in path.parts[:-1] if p != "__pycache__"]
    stem = path.name.split(".")[0]
    return ".".join(parts if stem == "__init__" else [*parts, stem])


def _key(func: Any) -> Any:
    """What a forbidden name resolves to: a property's descriptor for its __get__ (x.T), the
    packet of a torch.ops overload (aten._softmax.default -> aten._softmax), else the function."""
    if getattr(func, "__name__", "") in ("__get__", "__set__") and hasattr(func, "__self__"):
        return func.__self__
    return getattr(func, "overloadpacket", func)


def _objects(names: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(name, object) for each forbidden torch name whose module is imported by now (importing
    the rest here would cost seconds: flex_attention pulls in the compiler)."""
    for name in names:
        parts = name.split(".")
        if parts[0] != "torch":  # only torch functions pass through the mode
            continue
        for cut in range(len(parts), 0, -1):
            obj: Any = sys.modules.get(".".join(parts[:cut]))
            if obj is None:
                continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except (AttributeError, RuntimeError):
                break
            yield name, obj
            break
