"""The rules of the exercise, two checks every problem runs (the plugin adds them to each
problems/<slug>/test_<slug>.py): no call of the op the problem asks you to write, no import of
the reference or the solutions, no forbidden dtype conversion ([rules] in problem.toml).

Both are judged here in the harness. `test_follows_the_rules` runs first: the attempt's source
parsed with `ast` (primary: the attempt cannot reach it). `test_runs_no_forbidden_call` runs
last, after every other check has called the attempt in the same worker: what the worker saw it
run (defence in depth: the worker is the attempt's own process, see rules_watch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grader.harness.checked import remote
from grader.harness.rules_ast import Violation, rule_message, short, static_violations
from grader.problem.impls import ImplRef
from grader.problem.rules import RULED, allowed_imports
from grader.problem.spec import Problem

STATIC_TEST, DYNAMIC_TEST = "test_follows_the_rules", "test_runs_no_forbidden_call"


# Both are marked static: a stub passes them, and must stay `not_attempted`, not `failed`.
@pytest.mark.static
def test_follows_the_rules(problem: Problem, impl_ref: ImplRef):
    """No forbidden call, import or cast in the source (parsed, never imported)."""
    _require_ruled(impl_ref)
    found = static_violations(problem, impl_ref.path, allowed_imports(impl_ref.kind, problem.slug))
    if found:
        raise AssertionError(rule_message(problem, found[0], len(found) - 1))


@pytest.mark.static
def test_runs_no_forbidden_call(impl_ref: ImplRef, problem: Problem, request):
    """No forbidden call or import in what the attempt ran during this file's other checks."""
    _require_ruled(impl_ref)
    impl = request.getfixturevalue("impl")  # skips as needs_gpu where it cannot run (CuPy)
    seen = dynamic_violations(remote(impl.client, ("rules",), "the rule report"))
    if seen:
        raise AssertionError(rule_message(problem, seen[0], len(seen) - 1))


def _require_ruled(impl_ref: ImplRef) -> None:
    if impl_ref.kind not in RULED or impl_ref.path is None:
        pytest.skip(f"the rules are for attempts and solutions, not for the {impl_ref.kind}")


def dynamic_violations(report: Any) -> list[Violation]:
    """The worker's records as Violations; a report of the wrong shape is itself a failure
    (the worker is the attempt's process: only data that checks out is believed)."""
    if not isinstance(report, list):
        raise AssertionError("rules: the attempt's process sent no rule report (tampered with?)")
    out = []
    for r in report:
        kinds = {"file": str, "line": int, "verb": str, "name": str}
        if not (isinstance(r, dict) and all(type(r.get(k)) is t for k, t in kinds.items())):
            raise AssertionError("rules: the attempt's process sent a malformed rule report")
        out.append(Violation(short(Path(str(r["file"]))), int(r["line"]), r["verb"], r["name"]))
    return out


def add_to(module: Any) -> None:
    """Give a problem's test module the two rule checks (unless it defines its own)."""
    for name, check in (
        (STATIC_TEST, test_follows_the_rules),
        (DYNAMIC_TEST, test_runs_no_forbidden_call),
    ):
        if not hasattr(module, name):
            setattr(module, name, check)


def static_first(items: list[pytest.Item]) -> None:
    """The source check before everything else (it needs no worker): `dojo check -x` stops an
    attempt that calls torch.softmax at once. The dynamic one stays last in its file."""
    items.sort(key=lambda item: getattr(item, "originalname", "") != STATIC_TEST)
