"""pytest plugin: `--impl`, the impl/problem/runtime fixtures, hypothesis profiles, and the
signed event stream the sandbox turns into a verdict (`--dojo-report fd:OUT:KEY`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from grader.harness.checked import ImplError, InterpreterGap, NeedsGpu, harness_error, open_impl
from grader.harness.client import WorkerGone, WorkerRaised
from grader.harness.falsifying import shrunk_example
from grader.harness.fixtures import NEEDS_GPU, Runtime
from grader.harness.hooks import Hooks, hooks_for
from grader.harness.rules import add_to as add_rules_checks
from grader.harness.rules import static_first
from grader.problem.impls import default_impls, resolve
from grader.problem.registry import _load as _load_problem
from grader.runtime.cuda import CUDA_FAULT
from grader.runtime.device import cuda_count, enable_interpreter_if_no_gpu
from grader.runtime.errors import INTERNAL_ERROR, ImplLoadError, NotAttempted
from grader.sandbox.events import sign
from grader.sandbox.process import undumpable

_QUIET = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.differing_executors,
]
# The explain phase reruns a failing example many times to mark the arguments that matter;
# the grader shows the shrunk arguments alone (falsifying.py), and explaining cost a wrong
# attempt minutes of its check (rms_norm returning a list: 169 s with it, 7 s without).
_PHASES = tuple(p for p in Phase if p is not Phase.explain)
settings.register_profile(
    "ci",
    phases=_PHASES,
    derandomize=True,
    max_examples=10,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "dev",
    phases=_PHASES,
    max_examples=100,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=_QUIET,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kernel-dojo")
    group.addoption(
        "--impl",
        default=None,
        help="implementation to test: attempt | solution[:backend] | reference | "
        "wrong:<bug> | null:zeros|copy|fp16 | PATH.py (default: reference and "
        "every solution)",
    )
    group.addoption(
        "--dojo-report",
        default=None,
        help="write the signed per-test event stream to inherited pipes fd:OUT:KEY (used by "
        "`dojo check`: records go to OUT, signed with the key read from KEY)",
    )


def pytest_configure(config: pytest.Config) -> None:
    enable_interpreter_if_no_gpu()
    path = config.getoption("dojo_report")
    config._dojo_report = _Report(path) if path else None


class _Report:
    """The signed event stream: fd:OUT:KEY names two pipes inherited from the parent, one to
    write the records to, one to read the signing key from (once, then closed)."""

    def __init__(self, where: str):
        kind, _, fds = where.partition(":")
        out, _, key = fds.partition(":")
        if kind != "fd" or not (out.isdigit() and key.isdigit()):
            raise pytest.UsageError("--dojo-report takes fd:OUT:KEY, two inherited pipes")
        undumpable()  # before the key is in memory: the attempt's worker runs as the same user
        with os.fdopen(int(key), "rb") as f:
            self.key = bytes.fromhex(f.read().decode().strip())
        self.pipe = os.fdopen(int(out), "w", buffering=1)

    def write(self, record: dict) -> None:
        self.pipe.write(sign(self.key, record) + "\n")

    def close(self) -> None:
        self.pipe.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stream = getattr(session.config, "_dojo_report", None)
    if stream is not None:  # its absence tells the sandbox the run ended early
        stream.write({"event": "finish", "exitstatus": int(exitstatus)})


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "_dojo_report", None):
        config._dojo_report.close()


def _problem_of(path: Path):
    """The problem a test file belongs to: problems/<slug>/test_<slug>.py; None elsewhere."""
    toml = path.parent / "problem.toml"
    return _load_problem(toml) if path.parent.parent.name == "problems" and toml.is_file() else None


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Every problem's test file runs the rule checks (grader/harness/rules.py)."""
    if isinstance(collector, pytest.Module) and _problem_of(Path(collector.path)) is not None:
        try:
            module = collector.obj
        except Exception:  # noqa: BLE001 - collecting it again reports the import error
            return
        add_rules_checks(module)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    static_first(items)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl_spec" not in metafunc.fixturenames:  # impl, impl_ref or runtime
        return
    problem = _problem_of(Path(metafunc.module.__file__))  # not the function's: rules.py
    if problem is None:
        return
    chosen = metafunc.config.getoption("impl")
    specs = [chosen] if chosen else default_impls(problem, problem.path.parent.parent)
    metafunc.parametrize("impl_spec", specs, scope="module", ids=specs)


@pytest.fixture(scope="module")
def problem(request: pytest.FixtureRequest):
    problem = _problem_of(Path(request.path))
    if problem is None:
        raise RuntimeError("the `problem` fixture is for tests under problems/<slug>/")
    return problem


@pytest.fixture(scope="module")
def impl_ref(problem, impl_spec: str):
    return resolve(problem, impl_spec, problem.path.parent.parent)


@pytest.fixture(scope="module")
def impl(problem, impl_ref):
    """The implementation under test, running in a worker process of its own."""
    try:
        checked = open_impl(problem, impl_ref, problem.path.parent.parent)
    except NeedsGpu as e:
        pytest.skip(f"{NEEDS_GPU}: {e}")
    yield checked
    checked.client.close()


@pytest.fixture(scope="module")
def hooks(problem) -> Hooks:
    return hooks_for(problem)


@pytest.fixture(scope="module")
def runtime(problem, impl_ref) -> Runtime:
    return Runtime.for_check(problem, impl_ref)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    stream = item.config._dojo_report
    record = _record(item, call, report)
    if record is None:
        return
    if record["status"] == "crashed":
        item.session.shouldstop = "a CUDA fault leaves the GPU context unusable"
    if stream is not None:
        stream.write(record)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _skip_without_gpus(item)
    stream = item.config._dojo_report
    if stream is not None:
        stream.write({"event": "start", "nodeid": item.nodeid})


def _skip_without_gpus(item: pytest.Item) -> None:
    """`@pytest.mark.gpu` and `multi_gpu` tests skip as needs_gpu where the GPUs are missing."""
    for mark, need in (("multi_gpu", 2), ("gpu", 1)):
        if item.get_closest_marker(mark) and cuda_count() < need:
            what = "a CUDA GPU" if need == 1 else f"{need}+ CUDA GPUs, found {cuda_count()}"
            pytest.skip(f"{NEEDS_GPU}: this test needs {what}")


def _record(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> dict | None:
    base = {
        "event": "result",
        "nodeid": item.nodeid,
        "phase": report.when,
        "test": getattr(item, "originalname", item.name),
        "static": item.get_closest_marker("static") is not None,
    }
    if report.skipped:
        reason = _skip_reason(report)
        status = "needs_gpu" if reason.startswith(NEEDS_GPU) else "skipped"
        return {**base, "status": status, "message": reason}
    notes = [v for k, v in item.user_properties if k == "dojo_note"]
    if report.failed:
        status, message = classify(call.excinfo)
        if status == "crashed" and CUDA_FAULT.search(message):
            message += "\n" + sanitizer_hint(item)
        notes_of = getattr(call.excinfo.value, "__notes__", None) if call.excinfo else None
        example = shrunk_example(notes_of or (), item.fixturenames)
        return {**base, "status": status, "message": message, "example": example, "notes": notes}
    if report.when == "call":  # seconds: the call phase alone, for per-check time budgets
        passed = {"status": "passed", "message": "", "notes": notes}
        return {**base, **passed, "seconds": round(report.duration, 4)}
    return None


def sanitizer_hint(item: pytest.Item) -> str:
    """How to find a CUDA fault: the failing check alone, under compute-sanitizer."""
    path = Path(str(item.path)).relative_to(Path(str(item.config.rootpath)))
    impl = item.config.getoption("impl") or "attempt"
    name = getattr(item, "originalname", item.name)
    return (
        f"find the faulting access with: compute-sanitizer --tool memcheck python -m pytest "
        f"{path} --impl {impl} -x -k {name} -p grader.harness.plugin"
    )


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def classify(excinfo: pytest.ExceptionInfo | None) -> tuple[str, str]:
    """(status, message) for a failed test: whose fault it was, in words."""
    if excinfo is None:
        return "error", "failed without an exception"
    e = excinfo.value
    if isinstance(e, (WorkerRaised, WorkerGone)):  # a call into the worker not made by checked.py
        e = harness_error(e, "the implementation")
    if isinstance(e, ImplLoadError):
        return "error", str(e)
    if isinstance(e, NotImplementedError):
        return "not_attempted", str(e) if isinstance(e, NotAttempted) else "not attempted yet"
    if isinstance(e, InterpreterGap):
        return "needs_gpu", str(e)
    if isinstance(e, ImplError):
        crashed = e.kind == "died" or e.cuda_fault or CUDA_FAULT.search(str(e))
        return ("crashed" if crashed else "error"), str(e)
    if isinstance(e, (AssertionError, pytest.fail.Exception)):
        text = str(e).split("\nassert ")[0]  # drop pytest's rewritten-assert introspection
        return "failed", text or "assertion failed"
    if type(e).__name__ in ("Flaky", "FlakyFailure", "FlakyStrategyDefinition"):
        return "failed", (
            "the result changed between identical calls (a data race, or uninitialised memory?)"
        )
    return "error", f"{INTERNAL_ERROR}: {type(e).__name__}: {e}"
