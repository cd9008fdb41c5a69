"""pytest plugin: `--impl`, the impl/problem/runtime fixtures, hypothesis profiles, and the
event stream the sandbox turns into a verdict (`--dojo-report FILE`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from grader.harness.checked import CheckedImpl, ImplError
from grader.harness.fixtures import NEEDS_GPU, Runtime
from grader.harness.hooks import Hooks, hooks_for
from grader.problem.impls import default_impls, load, resolve
from grader.problem.registry import _load as _load_problem
from grader.runtime.cuda import CUDA_FAULT
from grader.runtime.device import cuda_count, enable_interpreter_if_no_gpu
from grader.runtime.errors import ImplLoadError, NotAttempted

_QUIET = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.differing_executors,
]
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=10,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, report_multiple_bugs=False, suppress_health_check=_QUIET
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
        help="append the per-test event stream to this file (used by `dojo check`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    enable_interpreter_if_no_gpu()
    path = config.getoption("dojo_report")
    config._dojo_report = open(path, "a", buffering=1) if path else None  # noqa: SIM115


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stream = getattr(session.config, "_dojo_report", None)
    if stream is not None:  # its absence tells the sandbox the run ended early
        stream.write(json.dumps({"event": "finish", "exitstatus": int(exitstatus)}) + "\n")


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "_dojo_report", None):
        config._dojo_report.close()


def _problem_of(path: Path):
    """The problem a test file belongs to: problems/<slug>/test_<slug>.py; None elsewhere."""
    toml = path.parent / "problem.toml"
    return _load_problem(toml) if path.parent.parent.name == "problems" and toml.is_file() else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl" not in metafunc.fixturenames:
        return
    problem = _problem_of(Path(metafunc.definition.path))
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
def impl(problem, impl_ref) -> CheckedImpl:
    module = load(problem, impl_ref)
    return CheckedImpl(module, problem.entry + problem.optional, impl_ref.spec)


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
        stream.write(json.dumps(record) + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _skip_without_gpus(item)
    stream = item.config._dojo_report
    if stream is not None:
        stream.write(json.dumps({"event": "start", "nodeid": item.nodeid}) + "\n")


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
        example = _example(call.excinfo)
        return {**base, "status": status, "message": message, "example": example, "notes": notes}
    if report.when == "call":
        return {**base, "status": "passed", "message": "", "notes": notes}
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
    if isinstance(e, ImplLoadError):
        return "error", str(e)
    if isinstance(e, NotImplementedError):
        return "not_attempted", str(e) if isinstance(e, NotAttempted) else "not attempted yet"
    if isinstance(e, ImplError):
        return ("crashed" if CUDA_FAULT.search(str(e)) else "error"), str(e)
    if isinstance(e, (AssertionError, pytest.fail.Exception)):
        text = str(e).split("\nassert ")[0]  # drop pytest's rewritten-assert introspection
        return "failed", text or "assertion failed"
    if type(e).__name__ in ("Flaky", "FlakyFailure", "FlakyStrategyDefinition"):
        return "failed", (
            "the result changed between identical calls (a data race, or uninitialised memory?)"
        )
    return "error", f"internal error in the test, please report it: {type(e).__name__}: {e}"


def _example(excinfo: pytest.ExceptionInfo | None) -> str | None:
    notes = getattr(excinfo.value, "__notes__", None) if excinfo else None
    lines = [n for n in notes or () if "Falsifying" in n or n.startswith(("    ", "case", "seed"))]
    return "\n".join(lines) or None
