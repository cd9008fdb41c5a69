"""Attempts that try to reach the verdict instead of computing it, each purpose-built for one
hole of an in-process grader, through the real sandbox: none of them gets `passed`."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import torch

from grader.problem.registry import get_problem
from grader.runtime.device import cuda_count
from grader.runtime.paths import ROOT
from grader.sandbox.check import run_check

BAD = Path(__file__).parent / "bad_attempts"


def _check(name: str, slug: str = "rms_norm", fail_fast: bool = True, **kw):
    return run_check(get_problem(slug), str(BAD / f"{name}.py"), fail_fast=fail_fast, **kw)


@pytest.mark.parametrize("name", ["rebinds_test_module", "patches_torch", "hypothesis_no_phases"])
def test_patching_its_own_process_does_not_reach_the_harness(name):
    """Failed by the value checks themselves, not only by the rules (which name
    rebinds_test_module's walk over sys.modules)."""
    r = _check(name, fail_fast=False)
    assert r.verdict == "failed", f"{name}: {r.verdict}: {r.message}"
    failed = [c.name for c in r.checks if c.status == "failed"]
    assert any(not c.startswith(("test_follows_the_rules", "test_runs_no")) for c in failed), failed


def test_raising_pytests_skipped_is_an_error_not_needs_gpu():
    r = _check("raises_skipped")
    assert r.verdict == "error" and "Skipped" in r.message, r.message


def test_records_written_into_the_parents_pipes_void_the_run():
    r = _check("forges_events")
    assert r.verdict in ("error", "failed"), r.message
    if r.verdict == "error":  # it reached the harness's pipe (as root): the signature caught it
        assert "tampered" in r.message, r.message


def test_a_setsid_grandchild_is_killed_with_the_run(tmp_path):
    attempt = tmp_path / "leaves_a_grandchild.py"
    shutil.copy(BAD / attempt.name, attempt)
    r = run_check(get_problem("rms_norm"), str(attempt), fail_fast=True)
    assert r.verdict == "failed", r.message
    pid = int(attempt.with_suffix(".pid").read_text())
    for _ in range(50):  # the kill is asynchronous: give the kernel a moment
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid), f"the setsid grandchild {pid} outlived the check"


def test_writing_the_progress_store_is_undone(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    store = tmp_path / "xdg" / "kernel-dojo"
    store.mkdir(parents=True)
    (store / "progress.json").write_text("{}")
    attempt = tmp_path / "writes_store.py"
    shutil.copy(BAD / attempt.name, attempt)
    attempt.with_suffix(".target").write_text(str(store / "progress.json"))
    r = run_check(get_problem("rms_norm"), str(attempt), fail_fast=True)
    assert r.verdict == "failed", r.message
    assert (store / "progress.json").read_text() == "{}"
    assert "restored progress.json" in r.message, r.message


def test_a_conftest_dropped_into_the_checkout_voids_the_run(tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "problems" / "rms_norm", root / "problems" / "rms_norm")
    attempt = root / "writes_conftest.py"
    shutil.copy(BAD / attempt.name, attempt)
    problem = get_problem("rms_norm", root)
    r = run_check(problem, str(attempt), fail_fast=True, root=root)
    assert r.verdict == "error" and "conftest.py" in r.message and "void" in r.message, r.message


def test_memory_over_the_limit_is_the_attempts_error():
    r = _check("eats_memory")
    assert r.verdict in ("error", "crashed"), r.message
    assert "memory" in r.message.lower() or "alloc" in r.message.lower(), r.message


@pytest.mark.parametrize("attempt", ["arange_not_power_of_two", "arange_in_helper"])
def test_a_triton_compile_error_keeps_the_compilers_reason(attempt):
    r = _check(attempt)
    assert r.verdict == "error" and "power of 2" in r.message, r.message


@pytest.mark.skipif(cuda_count() > 0, reason="this machine has CUDA: CuPy may import")
def test_a_cuda_attempt_that_needs_cupy_to_import_needs_a_gpu():
    r = _check("cupy_at_import", "warp_reduce")
    assert r.verdict == "needs_gpu", f"{r.verdict}: {r.message}"


def test_running_every_expert_locally_is_caught_without_a_log_to_forge():
    r = _check("ep_runs_experts_locally", "ep_all_to_all")
    assert r.verdict == "failed" and "rows must be sent to the owner" in r.message, r.message


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


assert os.name == "posix", "the sandbox tests need /proc (Linux)"


@pytest.mark.parametrize("name", ["reports_its_own_time", "patches_the_clock_unseen"])
def test_a_worker_whose_clock_was_replaced_refuses_to_time(name):
    """The GPU bench's timed request ("time"), sent here on any machine: the seal is checked
    before the clock starts, so the refusal comes before any CUDA call."""
    from grader.harness.checked import open_impl, remote
    from grader.problem.impls import resolve

    problem = get_problem("rms_norm")
    impl = open_impl(problem, resolve(problem, str(BAD / f"{name}.py"), ROOT), ROOT)
    x, w = torch.randn(4, 8), torch.ones(8)
    try:
        with pytest.raises(AssertionError) as raised:
            remote(impl.client, ("time", ("module", "rms_norm"), (x, w), {}), "rms_norm")
    finally:
        impl.client.close()
    assert str(raised.value) == (
        "rms_norm replaced the worker's sample_gpu, part of the grader's clock: its times are "
        "refused"
    )
