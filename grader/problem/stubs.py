"""Whether an attempt is still a stub, decided from its source without running it, and the stub
files as shipped (from git), so that nothing the candidate writes can change what the suite sees.

The rule: an attempt is a stub when every call into it is certain to stop before doing any work,
which is exactly what a test run would find (every check "not attempted"):
- CUDA: attempt.cu still holds the DOJO_STUB line (its launcher refuses to compile it);
- otherwise: in attempt.py, every entry function ends in `raise NotImplementedError(...)`
  with only straight-line code before it (no branch, loop, try or return: no call can return a
  result), and for an entry class so does every method but __init__.
Anything else (a syntax error, one method written, a raise inside an `if`) runs the tests.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from grader.problem.spec import Problem
from grader.runtime.cuda import STUB_MARKER


def stub_reason(problem: Problem) -> str | None:
    """Why the attempt cannot have started (one line), or None when its checks must run."""
    cu = problem.path / "attempt.cu"
    if problem.language == "cuda" and cu.is_file():
        if STUB_MARKER in cu.read_text(errors="replace"):
            return f"attempt.cu still contains the {STUB_MARKER} line: delete it when you start"
        return None
    path = problem.path / "attempt.py"
    if not path.is_file():
        return None
    names = stubbed_entries(path.read_text(errors="replace"), problem.entry)
    if names is None:
        return None
    verb = "raises" if len(names) == 1 else "raise"
    return f"{', '.join(names)} still {verb} NotImplementedError: edit attempt.py"


def stubbed_entries(source: str, entry: tuple[str, ...]) -> list[str] | None:
    """The entry names if every one of them is a stub in `source`, else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    if not all(name in defs and _is_stub(defs[name]) for name in entry):
        return None
    return list(entry)


def _is_stub(node: ast.FunctionDef | ast.ClassDef) -> bool:
    if isinstance(node, ast.FunctionDef):
        return _only_raises(node.body)
    methods = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name != "__init__"]
    return bool(methods) and all(_only_raises(m.body) for m in methods)


def _only_raises(body: list[ast.stmt]) -> bool:
    """The body ends in `raise NotImplementedError` that every call reaches or fails before:
    what comes first is straight-line code (no branch, loop, try, with or return)."""
    if not body or not isinstance(body[-1], ast.Raise) or body[-1].exc is None:
        return False
    exc = body[-1].exc
    target = exc.func if isinstance(exc, ast.Call) else exc
    if not (isinstance(target, ast.Name) and target.id == "NotImplementedError"):
        return False
    return all(isinstance(s, _STRAIGHT) and not _returns(s) for s in body[:-1])


_STRAIGHT = (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Pass)


def _returns(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Return | ast.Yield | ast.YieldFrom) for n in ast.walk(stmt))


def shipped_text(root: Path, relpath: str) -> str | None:
    """The file as committed at HEAD (what a fresh clone holds), or None outside a git checkout
    or for a file git does not track."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "show", f"HEAD:{relpath}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None
