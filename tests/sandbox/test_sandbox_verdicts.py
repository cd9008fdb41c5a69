"""Every sandbox verdict, produced by a purpose-built bad attempt at rms_norm (CPU-runnable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.problem.registry import get_problem
from grader.runtime.device import cuda_count
from grader.runtime.paths import ROOT
from grader.sandbox.check import run_check

BAD = Path(__file__).parent / "bad_attempts"

# attempt file -> (verdict, words the one-line reason must contain)
EXPECTED = {
    "syntax_error": ("error", ["syntax_error.py:3", "syntax error"]),
    "import_error": ("error", ["import_error.py:3", "triton_but_misspelled"]),
    "missing_entry": ("error", ["defines no rms_norm"]),
    "raises": ("error", ["rms_norm raised RuntimeError", "raises.py:5"]),
    "segfault": ("crashed", ["SIGSEGV"]),
    "exits_early": ("crashed", ["exited early"]),
    "wrong_shape": ("failed", ["shape"]),
    "wrong_dtype": ("failed", ["dtype torch.float32, expected torch.float16"]),
    "wrong_device": ("failed", ["no real storage"]),
    "mutates_input": ("failed", ["modified its input 'x'"]),
    "aliased_output": ("failed", ["shares memory with input 'x'"]),
    "stale_buffer": ("failed", ["overwrote the output of its previous call"]),
    "tensor_subclass": ("failed", ["returned a Sneaky where a torch.Tensor was expected"]),
    "nan_output": ("failed", ["NaN where the reference has none"]),
    "forges_tensor_metadata": ("failed", ["does not fit its storage"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_attempt_gets_its_verdict_and_a_one_line_reason(name):
    verdict, words = EXPECTED[name]
    r = run_check(get_problem("rms_norm"), str(BAD / f"{name}.py"), fail_fast=True, timeout=120)
    assert r.verdict == verdict, f"{name}: got {r.verdict}: {r.message}"
    first = r.message.splitlines()[0]
    for w in words:
        assert w in r.message, f"{name}: '{w}' not in {r.message!r}"
    assert "Traceback" not in r.message and len(first) < 400


@pytest.mark.skipif(cuda_count() > 0, reason="the Triton interpreter runs only without a GPU")
def test_what_the_triton_interpreter_lacks_needs_a_gpu_and_a_kernel_error_keeps_its_line():
    gap = run_check(get_problem("rms_norm"), str(BAD / "interpreter_gap.py"), fail_fast=True)
    assert gap.verdict == "needs_gpu", gap.message
    assert gap.message.startswith("rms_norm's kernel uses inline_asm (")
    assert "interpreter_gap.py:14), which the Triton interpreter cannot run" in gap.message
    error = run_check(
        get_problem("rms_norm"), str(BAD / "kernel_arange_runtime_bound.py"), fail_fast=True
    )
    assert error.verdict == "error", error.message
    assert "InterpreterError in a Triton kernel: ValueError: arange's arguments" in error.message
    assert "kernel_arange_runtime_bound.py:11)" in error.message


def test_infinite_loop_times_out_and_names_the_running_check():
    r = run_check(get_problem("rms_norm"), str(BAD / "infinite_loop.py"), timeout=40)
    assert r.verdict == "timeout", r.message
    assert "did not finish within 40 s" in r.message and "test_" in r.message


def test_shipped_stub_is_not_attempted():
    r = run_check(get_problem("rms_norm"), "attempt", fail_fast=True)
    assert r.verdict == "not_attempted", r.message
    assert "rms_norm still raises NotImplementedError" in r.message


def test_unknown_implementation_is_an_error_naming_what_exists():
    r = run_check(get_problem("rms_norm"), "solution:cuda")
    assert r.verdict == "error" and "have: solution:triton" in r.message


def test_verdicts_are_within_the_json_contract():
    r = run_check(get_problem("rms_norm"), "solution", fail_fast=True)
    data = r.to_json()
    assert data["schema"] == 1 and data["verdict"] == "passed"
    assert set(data) >= {"schema", "problem", "impl", "verdict", "checks", "message"}
    assert all(c["status"] in ("passed", "needs_gpu", "skipped") for c in data["checks"])


def test_the_harness_is_closed_to_the_attempts_process():
    """The worker runs as the same user as the harness: /proc/<harness>/mem must be closed to
    it (reads_the_harness.py answers only if it can read a byte there)."""
    cmd = [sys.executable, "-m", "grader", "check", "rms_norm", "--json", "--fail-fast"]
    cmd += ["--impl", str(BAD / "reads_the_harness.py")]
    if os.geteuid() == 0:  # root may read any process: run as a user does, without the right
        if not shutil.which("setpriv"):
            pytest.skip("running as root, and no setpriv to drop CAP_SYS_PTRACE with")
        cmd = ["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    result = json.loads(proc.stdout)
    assert result["verdict"] == "error", result["message"]
    assert "Permission denied" in result["message"] and "/mem" in result["message"]
