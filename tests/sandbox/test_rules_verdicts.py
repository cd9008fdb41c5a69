"""Attempts that call the op they were asked to write, or import the answer, through the real
CLI (`python -m grader check SLUG --impl PATH --json`): each is `failed` by the rules check, in
one line naming the file, the line and the call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.runtime.paths import ROOT

BAD = Path(__file__).parent / "bad_attempts"
STATIC, DYNAMIC = "test_follows_the_rules", "test_runs_no_forbidden_call"

# attempt -> (problem, line, what the one-line reason names, the check that sees it): the
# source check runs first, so `--fail-fast` stops there; computed names only the worker's
# watch sees, in the check that runs after all the others
EXPECTED = {
    "rules_softmax_through_an_alias": (
        "online_softmax",
        8,
        "calls torch.nn.functional.softmax",
        STATIC,
    ),
    "rules_warp_reduce_tensor_sum": ("warp_reduce", 6, "calls torch.Tensor.sum", STATIC),
    "rules_imports_the_reference": (
        "online_softmax",
        3,
        "imports reference.online_softmax",
        STATIC,
    ),
    "rules_imports_a_solution": ("rms_norm", 3, "imports solutions.rms_norm.triton", STATIC),
    "rules_fp8_cast_in_torch": ("fp8_quant", 14, "converts to torch.float8_e4m3fn", STATIC),
    "rules_rms_norm_by_computed_name": (
        "rms_norm",
        10,
        "calls torch.nn.functional.rms_norm",
        DYNAMIC,
    ),
    "rules_imports_by_computed_name": ("rms_norm", 6, "imports reference.rms_norm", DYNAMIC),
    "rules_reads_a_solution": ("rms_norm", 9, "reads solutions/rms_norm/triton.py", DYNAMIC),
    "reports_its_own_time": ("rms_norm", 14, "uses '__main__'", STATIC),
}


def _dojo_check(slug: str, attempt: Path, *flags: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "check", slug, "--impl", str(attempt), "--json", *flags],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout.strip(), f"no JSON from dojo check: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_forbidden_call_or_import_fails_a_rules_check_in_one_line(name):
    slug, line, words, check = EXPECTED[name]
    flags = ("--fail-fast",) if check == STATIC else ()
    result = _dojo_check(slug, BAD / f"{name}.py", *flags)
    message = result["message"]
    assert result["verdict"] == "failed", f"{name}: {result['verdict']}: {message}"
    where = f"{BAD.relative_to(ROOT) / name}.py:{line} {words} — "
    assert message.startswith(f"{check}: rules: {where}"), message
    assert "\n" not in message and "Traceback" not in message, message
    failed = [c["name"] for c in result["checks"] if c["status"] == "failed"]
    assert failed == [check], f"{name} failed {failed}, not only {check}"


def test_a_clock_replaced_by_names_no_source_check_sees_fails_the_dynamic_rules_check():
    """The worker sealed its clock before the import: what was replaced is named, with the
    grader's reason (no line: a seal sees the result, not the statement)."""
    name = "patches_the_clock_unseen"
    result = _dojo_check("rms_norm", BAD / f"{name}.py")
    where = f"{BAD.relative_to(ROOT) / name}.py replaces the worker's sample_gpu — "
    assert result["verdict"] == "failed", result["message"]
    assert result["message"].startswith(f"{DYNAMIC}: rules: {where}attempts may not reach into")
    failed = [c["name"] for c in result["checks"] if c["status"] == "failed"]
    assert failed == [DYNAMIC], failed
