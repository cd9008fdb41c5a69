"""`dojo check`: an implementation's checks run in a fresh process with a timeout; what happened
there (per-test events, exit status, signals, hangs) becomes one verdict and a one-line reason."""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from grader.problem.impls import resolve
from grader.problem.spec import Problem
from grader.runtime.errors import INTERNAL_ERROR, INTERPRETER_GAP, ImplLoadError
from grader.runtime.logs import tail_line
from grader.sandbox.events import EventStream
from grader.sandbox.guard import Guard, guarded
from grader.sandbox.process import SANDBOX_DIR, Finished, run_process
from grader.sandbox.verdict import Check, CheckResult, rank
from grader.store import data_dir

if TYPE_CHECKING:
    from grader.sandbox.budgets import Budgets


def run_check(
    problem: Problem,
    impl: str,
    *,
    timeout: float | None = None,
    fail_fast: bool = False,
    thorough: bool = False,
    root: Path | None = None,
    budgets: Budgets | None = None,
    on_event: Callable[[dict], None] | None = None,
    only: str | None = None,
) -> CheckResult:
    """`dojo check`: the problem's tests against one implementation. The tests run in a harness
    process that never imports the implementation (it runs in a worker process the harness
    starts); `budgets` (grader/sandbox/budgets.py) limits each check; `on_event` sees each
    record as it arrives; `only` runs one check (a test function's name) and no other."""
    root = root or problem.path.parent.parent
    try:
        ref = resolve(problem, impl, root)
    except ImplLoadError as e:
        return CheckResult(problem.slug, impl, "error", str(e))
    timeout = timeout or (budgets.timeout if budgets else None) or problem.timeouts["check"]
    stream = EventStream(on_event)
    with tempfile.TemporaryDirectory(prefix="dojo-") as tmp, guarded(root, data_dir()) as guard:
        finished = run_process(
            _pytest_command(problem, ref.cli_arg, stream.argument, fail_fast, thorough, root, only),
            timeout,
            root,
            env={SANDBOX_DIR: tmp},
            pass_fds=stream.child_fds,
            on_start=stream.start,
            watch=lambda: _over_budget(stream, budgets),
        )
        stream.join()
    events = _strip_impl(stream.events, ref.cli_arg)
    verdict, message, checks = decide(events, finished, timeout)
    if verdict == "timeout" and budgets is not None and not finished.killed_because:
        message += budgets.overall_note()
    verdict, message = _void_if_tampered(verdict, message, stream, guard)
    notes = list(dict.fromkeys(n for e in events for n in e.get("notes", ())))
    return CheckResult(problem.slug, ref.spec, verdict, message, checks, finished.seconds, notes)


def _pytest_command(
    problem: Problem,
    spec: str,
    report: str,
    fail_fast: bool,
    thorough: bool,
    root: Path,
    only: str | None = None,
) -> list[str]:
    """pytest on the problem's test file alone: no conftest.py is read (one dropped into the
    checkout must not change a verdict), the grader's plugin named explicitly."""
    return [
        sys.executable,
        "-m",
        "pytest",
        str(problem.path / f"test_{problem.slug}.py") + (f"::{only}" if only else ""),
        "--impl",
        spec,
        "--dojo-report",
        report,
        "-q",
        "--no-header",
        "--tb=no",
        "--noconftest",
        "-p",
        "grader.harness.plugin",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        f"--hypothesis-profile={'dev' if thorough else 'ci'}",
        f"--rootdir={root}",
        *(["-x"] if fail_fast else []),
    ]


def _over_budget(stream: EventStream, budgets: Budgets | None) -> str | None:
    """The timeout line once the running check is past its budget; None while it is within."""
    running = stream.running
    if running is None or budgets is None:
        return None
    nodeid, since = running
    spent = time.monotonic() - since
    return budgets.over(nodeid, spent) if spent > budgets.limit(nodeid) else None


def _strip_impl(events: list[dict], spec: str) -> list[dict]:
    """One implementation per run: its name in every test id is noise."""
    for e in events:
        if "nodeid" in e:
            e["nodeid"] = e["nodeid"].replace(f"[{spec}-", "[").replace(f"[{spec}]", "")
    return events


def _void_if_tampered(
    verdict: str, message: str, stream: EventStream, guard: Guard
) -> tuple[str, str]:
    if guard.tampered:
        shown = ", ".join(guard.tampered[:3]) + (" ..." if len(guard.tampered) > 3 else "")
        return "error", (
            f"the run changed the grader's own files ({shown}): its verdict is void; restore "
            "them (git checkout -- <path>, or delete what was added) and check again"
        )
    if stream.rejected:
        return "error", f"the check's report was tampered with: {stream.rejected}"
    if guard.restored:
        message += f" (the run wrote to your progress store; restored {', '.join(guard.restored)})"
    return verdict, message


def decide(events: list[dict], finished: Finished, timeout: float) -> tuple[str, str, list[Check]]:
    """The verdict, its one-line reason, and the per-check table."""
    results = [e for e in events if e.get("event") == "result"]
    checks = _group(results)
    started = [e["nodeid"] for e in events if e.get("event") == "start"]
    running = _short(started[-1]) if started else "start-up"
    if finished.returncode is None and finished.killed_because:
        return "timeout", finished.killed_because, checks
    if finished.returncode is None:
        return "timeout", f"did not finish within {timeout:g} s (while running {running})", checks
    if finished.returncode < 0:
        sig = signal.Signals(-finished.returncode).name
        return "crashed", f"the process died with {sig} while running {running}", checks
    if not any(e.get("event") == "finish" for e in events):
        return (
            "crashed",
            (
                f"the process exited early (status {finished.returncode}) while "
                f"running {running}: sys.exit or os._exit in the code?"
            ),
            checks,
        )
    worst = _worst(results)
    if worst is not None and worst["status"] in ("crashed", "error", "failed"):
        return worst["status"], f"{_short(worst['nodeid'])}: {_first_line(worst)}", checks
    if not results:
        return "error", f"no checks ran: {tail_line(finished.log)}", checks
    return _settle(results, checks, finished)


def _settle(results: list[dict], checks: list[Check], finished: Finished):
    deciding = [r for r in results if not r["static"]]
    passed = [r for r in deciding if r["status"] == "passed"]
    todo = [r for r in results if r["status"] == "not_attempted"]
    if todo:
        if not passed:
            return "not_attempted", todo[0]["message"], checks
        return "failed", f"{_short(todo[0]['nodeid'])}: {todo[0]['message']}", checks
    gpu_only = sum(c.needs_gpu for c in checks)
    gaps = (r for r in results if r["status"] == "needs_gpu" and INTERPRETER_GAP in r["message"])
    gap = next(gaps, None)
    if gap is not None:  # a kernel the interpreter could not run is not passed, nor an error
        return "needs_gpu", f"{gap['message']}{_static_passed(checks)}", checks
    if not passed:
        if gpu_only:
            return "needs_gpu", _needs_gpu_message(checks), checks
        return "error", "every check was skipped", checks
    if finished.returncode != 0:
        return (
            "error",
            (
                f"pytest exited with status {finished.returncode} although no check "
                f"failed: {tail_line(finished.log)}"
            ),
            checks,
        )
    n = sum(c.passed for c in checks)
    tail = f"; {gpu_only} need a GPU and did not run here" if gpu_only else ""
    return "passed", f"{n} checks passed{tail}", checks


def _needs_gpu_message(checks: list[Check]) -> str:
    return f"needs a CUDA GPU{_static_passed(checks)}"


def _static_passed(checks: list[Check]) -> str:
    static = sum(c.passed for c in checks if c.static)
    return f" ({static} static check{'s' * (static != 1)} passed here)" if static else ""


def _group(results: list[dict]) -> list[Check]:
    by_name: dict[str, Check] = {}
    for r in results:
        c = by_name.setdefault(r["test"], Check(r["test"], "skipped", static=r["static"]))
        if r["phase"] == "call" or r["status"] != "passed":
            c.cases += 1
        c.passed += r["status"] == "passed"
        c.needs_gpu += r["status"] == "needs_gpu"
        if rank(r["status"]) < rank(c.status):
            c.status = r["status"]
            if r["status"] not in ("passed", "skipped"):
                c.message, c.example = r["message"], r.get("example")
    return list(by_name.values())


def _worst(results: list[dict]) -> dict | None:
    """The result that decides the verdict. A test's internal error ranks after the
    implementation's own failures: a test computing with a wrong output (counts of the wrong
    shape, say) raises its own IndexError, and the output, not the grader, is to blame."""
    return min(results, key=_blame, default=None)


def _blame(r: dict) -> float:
    internal = r["status"] == "error" and r.get("message", "").startswith(INTERNAL_ERROR)
    return rank("failed") + 0.5 if internal else rank(r["status"])


def _short(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def _first_line(record: dict) -> str:
    lines = (record.get("message") or "").strip().splitlines()
    return lines[0] if lines else record["status"]
