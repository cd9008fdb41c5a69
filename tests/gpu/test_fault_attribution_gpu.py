"""Issue 8's GPU-only holes through the real CLI: a launch past CUDA's grid limit is told with
the limit, and a CUDA fault in the attempt's kernel is `crashed` with the check and the
compute-sanitizer line, never the grader's internal error. Skipped without a CUDA GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grader.runtime.paths import ROOT

pytestmark = pytest.mark.gpu
BAD = ROOT / "tests" / "sandbox" / "bad_attempts"


def _check(name: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "check", "smem_transpose", "--impl", str(BAD / name),
         "--json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.stdout.strip(), f"no JSON from dojo check: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def test_a_grid_past_the_y_limit_is_told_with_the_limit():
    r = _check("grid_y_over_the_launch_limit.py")
    assert r["verdict"] == "error", r
    # the fixed case M = 2,100,003 on 32-row tiles: cdiv(2100003, 32) = 65,626 blocks along y
    assert "gridDim.y = 65,626 is over CUDA's limit of 65,535" in r["message"], r["message"]
    assert "\n" not in r["message"] and "internal error" not in r["message"], r["message"]


def test_a_cuda_fault_is_crashed_with_the_sanitizer_line():
    r = _check("writes_far_out_of_bounds.py")
    assert r["verdict"] == "crashed", json.dumps(r)[:3000]
    text = json.dumps(r)
    assert "illegal memory access" in text or "illegal address" in text, text[:2000]
    assert "compute-sanitizer" in text and "internal error" not in text, text[:2000]
