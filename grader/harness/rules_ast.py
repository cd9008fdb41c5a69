"""The static rule check: an attempt's source parsed with `ast` (never imported), import aliases
and attribute chains resolved to dotted names, and every forbidden name, import and cast found."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from grader.problem.rules import ATTEMPT_API, Rules
from grader.problem.spec import Problem
from grader.runtime.errors import ImplLoadError
from grader.runtime.paths import ROOT

_IMPORT_REASON = "attempts may not import (or read) the reference or the shipped solutions"
_GRADER_REASON = "attempts may not reach into the grader (its worker, clock or checks)"

TENSOR = "torch.Tensor"
_RECEIVERS_NOT_TENSORS = ("self", "cls")  # a method of the attempt's own class
_CASTS = ("to", "type")  # tensor methods whose dtype argument converts values


@dataclass(frozen=True, slots=True)
class Violation:
    """`file:line verb name`, e.g. attempt.py:12 calls torch.softmax."""

    file: str
    line: int
    verb: str  # calls | uses | imports | converts to | converts from
    name: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file  # 0: no one line
        return f"{where} {self.verb} {self.name}"


def scan(text: str, file: str, rules: Rules, allowed: tuple[str, ...] = ()) -> list[Violation]:
    """Every violation of `rules` in `text`, in source order; imports under `allowed` are fine
    (a shipped solution importing its own package). Code under `if __name__ == "__main__":` is
    skipped: the grader never runs it."""
    tree = ast.parse(text, filename=file)
    scanner = _Scanner(file, rules, allowed, aliases(tree))
    scanner.visit(tree)
    unique = {(v.line, v.verb, v.name): v for v in scanner.found}
    return sorted(unique.values(), key=lambda v: (v.line, v.name))


def static_violations(problem: Problem, path: Path, allowed: tuple[str, ...]) -> list[Violation]:
    """scan() of an implementation's file, judged in the harness (the attempt never runs)."""
    try:
        return scan(path.read_text(), short(path), problem.rules, allowed)
    except SyntaxError as e:
        raise ImplLoadError(f"{short(path)}:{e.lineno}: syntax error: {e.msg}") from None


def rule_message(problem: Problem, v: Violation, more: int) -> str:
    """rules: attempt.py:12 calls torch.softmax — online_softmax asks you to write ... (+2 more)"""
    top = v.name.replace("/", ".").split(".")[0]
    if reaches_the_grader(v):
        reason = _GRADER_REASON
    elif v.verb in ("imports", "reads") and top in ("reference", "solutions"):
        reason = _IMPORT_REASON
    else:
        reason = problem.rules.reason
    tail = f" (+{more} more)" if more else ""
    return f"rules: {v} — {reason}{tail}"


def short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def aliases(tree: ast.AST) -> dict[str, str]:
    """name -> dotted path it stands for: imports (`import torch.nn.functional as F`,
    `from torch import softmax as s`) and plain assignments of resolvable names (`F =
    torch.nn.functional`). Scopes are ignored: a name means one thing in the whole file."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    for _ in range(3):  # assignments of assignments: F = torch.nn.functional; sm = F.softmax
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, path = node.targets[0], resolve(node.value, names)
                if isinstance(target, ast.Name) and path and target.id not in names:
                    names[target.id] = path
    return names


def resolve(node: ast.AST, names: dict[str, str]) -> str | None:
    """The dotted path an expression names (`F.softmax` -> torch.nn.functional.softmax,
    `getattr(torch, "sum")` -> torch.sum); None for anything computed."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = resolve(node.value, names)
        return f"{base}.{node.attr}" if base else None
    attr = _getattr_constant(node)
    if attr is not None:
        base = resolve(node.args[0], names)
        return f"{base}.{attr}" if base else None
    return None


def _getattr_constant(node: ast.AST) -> str | None:
    """ "name" of `getattr(obj, "name")` (a constant string); None otherwise."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    ):
        return node.args[1].value
    return None


def forbidden_module(module: str, imports: tuple[str, ...], allowed: tuple[str, ...]) -> bool:
    """Whether `module` is one of `imports` or inside one, and not inside one of `allowed` nor
    of the grader's ATTEMPT_API."""

    def under(prefixes: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in prefixes)

    return under(imports) and not under((*allowed, *ATTEMPT_API))


def holds_api(package: str) -> bool:
    """`grader.runtime` holds grader.runtime.cuda: `from grader.runtime import cuda` is judged
    by the names it imports, not by the package."""
    return any(api.startswith(package + ".") for api in ATTEMPT_API)


# What reaches into the process the attempt runs in: the worker's module (it runs as __main__),
# the frames that called the attempt and every live object. A kernel needs none of them; the
# worker's clock and replies live there (tests/sandbox/bad_attempts/reports_its_own_time.py).
PROCESS_NAMES = frozenset(
    """sys.modules sys._getframe sys._current_frames sys.settrace sys.setprofile
    inspect.currentframe inspect.stack inspect.trace inspect.getouterframes gc.get_objects
    gc.get_referrers gc.get_referents""".split()
)
FRAME_ATTRIBUTES = frozenset(("f_back", "f_globals", "f_locals", "tb_frame", "__globals__"))
MAIN = "'__main__'"


def reaches_the_grader(v: Violation) -> bool:
    """A violation of the grader's own process, not of the problem's rules."""
    top = v.name.replace("/", ".").split(".")[0]
    process = v.name in PROCESS_NAMES or v.name.startswith((".", MAIN))
    return process or v.verb == "replaces" or top in ("grader", "__main__", "problems")


def _is_main_guard(node: ast.If) -> bool:
    """`if __name__ == "__main__":`, either way round."""
    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.comparators) == 1):
        return False
    return {_side(test.left), _side(test.comparators[0])} == {"__name__", "'__main__'"}


def _side(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name) and node.id == "__name__":
        return "__name__"
    return MAIN if isinstance(node, ast.Constant) and node.value == "__main__" else None


class _Scanner(ast.NodeVisitor):
    def __init__(self, file: str, rules: Rules, allowed: tuple[str, ...], names: dict[str, str]):
        self.file, self.rules, self.allowed, self.names = file, rules, allowed, names
        self.forbidden = set(rules.forbidden)
        self.found: list[Violation] = []
        self._called: set[int] = set()  # ids of nodes that are the function of a call

    def flag(self, node: ast.AST, verb: str, name: str) -> None:
        self.found.append(Violation(self.file, getattr(node, "lineno", 0), verb, name))

    def check_name(self, node: ast.AST, path: str | None) -> None:
        if path in self.forbidden or path in PROCESS_NAMES:
            self.flag(node, "calls" if id(node) in self._called else "uses", path)

    def check_module(self, node: ast.AST, module: str) -> bool:
        if forbidden_module(module, self.rules.imports, self.allowed):
            self.flag(node, "imports", module)
            return True
        return False

    def visit_If(self, node: ast.If) -> None:
        if _is_main_guard(node):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.check_module(node, a.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.module or node.level:
            return
        if not holds_api(node.module) and self.check_module(node, node.module):
            return
        for a in node.names:
            if a.name == "*" and any(f.startswith(node.module + ".") for f in self.forbidden):
                self.flag(node, "star-imports", f"{node.module} (it holds forbidden names)")
            else:
                self.check_module(node, f"{node.module}.{a.name}")
                self.check_name(node, f"{node.module}.{a.name}")

    def visit_Call(self, node: ast.Call) -> None:
        self._called.add(id(node.func))
        self._check_dynamic_import(node)
        self._check_cast(node)
        attr = _getattr_constant(node)
        if attr is not None:
            self._check_attribute(node, node.args[0], attr)
            if attr in FRAME_ATTRIBUTES:
                self.flag(node, "uses", f".{attr}")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._check_attribute(node, node.value, node.attr)
        if node.attr in FRAME_ATTRIBUTES:
            self.flag(node, "uses", f".{node.attr}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        """The string '__main__' outside the main guard names the worker's module."""
        if node.value == "__main__":
            self.flag(node, "uses", MAIN)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.check_name(node, self.names.get(node.id))

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self._check_matmul(node, node.op)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_matmul(node, node.op)
        self.generic_visit(node)

    def _check_matmul(self, node: ast.AST, op: ast.operator) -> None:
        """a @ b is a call of Tensor.__matmul__ (operator.matmul resolves by name)."""
        if isinstance(op, ast.MatMult) and f"{TENSOR}.__matmul__" in self.forbidden:
            self.flag(node, "calls", f"{TENSOR}.__matmul__ (the @ operator)")

    def _check_attribute(self, node: ast.AST, value: ast.AST, attr: str) -> None:
        """`<module path>.attr` checked as itself; `<anything else>.attr` as a tensor method."""
        base = resolve(value, self.names)
        if base is not None:
            self.check_name(node, f"{base}.{attr}")
        elif not (isinstance(value, ast.Name) and value.id in _RECEIVERS_NOT_TENSORS):
            self.check_name(node, f"{TENSOR}.{attr}")

    def _check_dynamic_import(self, node: ast.Call) -> None:
        """importlib.import_module("reference.x") and __import__("reference.x")."""
        func = resolve(node.func, self.names) or getattr(node.func, "id", None)
        if func in ("importlib.import_module", "__import__") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.check_module(node, arg.value)

    def _check_cast(self, node: ast.Call) -> None:
        """x.to(torch.float8_e4m3fn), x.type(dtype=...) for a dtype listed in rules.casts."""
        if not (isinstance(node.func, ast.Attribute) and node.func.attr in _CASTS):
            return
        for arg in (*node.args, *(k.value for k in node.keywords)):
            path = resolve(arg, self.names)
            if path and path.removeprefix("torch.") in self.rules.casts:
                self.flag(node, "converts to", path)
