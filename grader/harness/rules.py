"""The rules of the exercise, one check every problem runs (the plugin adds it to each
problems/<slug>/test_<slug>.py): no call of the op the problem asks you to write, no import of
the reference or the solutions, no forbidden dtype conversion ([rules] in problem.toml).

Two layers, both judged here in the harness: the attempt's source parsed with `ast` (primary:
the attempt cannot reach it), then what the worker saw it run (defence in depth: the worker is
the attempt's own process, see rules_watch). The check runs last in its file, after every other
check has called the attempt in the same worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grader.harness.rules_ast import Violation, scan
from grader.problem.impls import ImplRef
from grader.problem.rules import ALWAYS_FORBIDDEN_IMPORTS, RULED, allowed_imports
from grader.problem.spec import Problem
from grader.runtime.errors import ImplLoadError
from grader.runtime.paths import ROOT

RULES_TEST = "test_follows_the_rules"
_IMPORT_REASON = "attempts may not import the reference or the shipped solutions"


@pytest.mark.static  # a stub passes it: it must not turn `not_attempted` into `failed`
def test_follows_the_rules(problem: Problem, impl_ref: ImplRef, request: pytest.FixtureRequest):
    """No forbidden call, import or cast: in the source, then in what the attempt ran."""
    if impl_ref.kind not in RULED or impl_ref.path is None:
        pytest.skip(f"the rules are for attempts and solutions, not for the {impl_ref.kind}")
    allowed = allowed_imports(impl_ref.kind, problem.slug)
    found = static_violations(problem, impl_ref.path, allowed)
    if found:
        raise AssertionError(rule_message(problem, found[0], len(found) - 1))
    try:
        impl = request.getfixturevalue("impl")
    except pytest.skip.Exception:
        return  # it cannot run here (CUDA without a GPU): the static layer is all there is
    seen = dynamic_violations(impl.client.request(("rules",)))
    if seen:
        raise AssertionError(rule_message(problem, seen[0], len(seen) - 1))


def static_violations(problem: Problem, path: Path, allowed: tuple[str, ...]) -> list[Violation]:
    try:
        return scan(path.read_text(), short(path), problem.rules, allowed)
    except SyntaxError as e:
        raise ImplLoadError(f"{short(path)}:{e.lineno}: syntax error: {e.msg}") from None


def dynamic_violations(report: Any) -> list[Violation]:
    """The worker's records as Violations; a report of the wrong shape is itself a failure
    (the worker is the attempt's process: only data that checks out is believed)."""
    if not isinstance(report, list):
        raise AssertionError("rules: the attempt's process sent no rule report (tampered with?)")
    out = []
    for r in report:
        keys = ("file", "line", "verb", "name")
        if not (isinstance(r, dict) and all(isinstance(r.get(k), (str, int)) for k in keys)):
            raise AssertionError("rules: the attempt's process sent a malformed rule report")
        out.append(Violation(short(Path(str(r["file"]))), int(r["line"]), r["verb"], r["name"]))
    return out


def rule_message(problem: Problem, v: Violation, more: int) -> str:
    """rules: attempt.py:12 calls torch.softmax — online_softmax asks you to write ... (+2 more)"""
    is_import = v.verb == "imports" and v.name.split(".")[0] in ALWAYS_FORBIDDEN_IMPORTS
    reason = _IMPORT_REASON if is_import else problem.rules.reason
    tail = f" (+{more} more)" if more else ""
    return f"rules: {v} — {reason}{tail}"


def short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def add_to(module: Any) -> None:
    """Give a problem's test module the rules check (unless it defines its own)."""
    if not hasattr(module, RULES_TEST):
        setattr(module, RULES_TEST, test_follows_the_rules)
