"""The grader rejects every known-wrong variant (solutions/<slug>/wrong_*.py) for its bug, at
the check its docstring names, and the generic null answers (zeros, an input copy, the
reference in float16), through the real sandbox."""

from __future__ import annotations

import ast
import re
import shutil

import pytest

from grader.problem.impls import wrong_variants
from grader.problem.nulls import NULL_KINDS
from grader.problem.registry import all_problems
from grader.runtime.device import cuda_count
from grader.runtime.paths import ROOT
from grader.sandbox.check import run_check

pytestmark = pytest.mark.slow  # every case is a sandboxed pytest run

PROBLEMS = all_problems()
# a variant shown by GPU-sized inputs only (a pool past 2^31 elements) needs the GPU's memory to
# itself under `pytest -n 8`, else its check skips for lack of memory and the variant passes
WRONG = [
    pytest.param(p, w, id=f"{p.slug}-{w}", marks=pytest.mark.exclusive_gpu)
    if w in p.params.get("wrong_on_gpu_only", [])
    else pytest.param(p, w, id=f"{p.slug}-{w}")
    for p in PROBLEMS
    for w in wrong_variants(p)
]
NULLS = [(p, f"null:{k}") for p in PROBLEMS for k in NULL_KINDS]
# The docstring line naming the check that rejects a variant (CONTRIBUTING.md): "(GPU)" when
# only a GPU runs that check, "(GPU, crashed)" when the kernel faults there instead of failing.
REJECTED_BY = re.compile(r"^Rejected by: (test_\w+)( \(GPU(, crashed)?\))?$", re.MULTILINE)
PTX_RULES = "test_ptx_follows_static_rule"  # compiles with nvcc, a GPU or not


def _rejected_by(slug: str, bug: str) -> tuple[str, bool, str]:
    """(check, on_gpu_only, verdict) from the variant's docstring, read with ast (a variant
    that no longer imports is still checked for what it claims)."""
    path = ROOT / "solutions" / slug / f"wrong_{bug}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(), filename=str(path))) or ""
    found = REJECTED_BY.findall(doc)
    assert len(found) == 1, (
        f"{path.relative_to(ROOT)}: its docstring needs exactly one line "
        f"'Rejected by: test_<name>' (or '... (GPU)'), found {len(found)}"
    )
    check, gpu, crashed = found[0]
    return check, bool(gpu), "crashed" if crashed else "failed"


def test_every_problem_ships_at_least_two_wrong_variants():
    few = [p.slug for p in PROBLEMS if len(wrong_variants(p)) < 2]
    assert not few, f"problems with fewer than two wrong_*.py: {few}"


@pytest.mark.parametrize(("problem", "bug"), WRONG)
def test_wrong_variant_is_rejected_by_the_check_its_docstring_names(problem, bug):
    """The named check alone is run: on a GPU, where hypothesis draws more examples, an earlier
    check may catch the bug first, which is no less a rejection for it."""
    check, gpu_only, verdict = _rejected_by(problem.slug, bug)
    if check == PTX_RULES and shutil.which("nvcc") is None:
        pytest.skip(f"needs nvcc: {problem.slug} rejects wrong:{bug} by its PTX")
    if bug in problem.params.get("wrong_on_gpu_only", []) and cuda_count() == 0:
        r = run_check(problem, f"wrong:{bug}", fail_fast=True)
        gpu_checks = sum(c.needs_gpu for c in r.checks)
        assert r.verdict == "passed" and gpu_checks, (
            f"wrong:{bug} is listed as shown by GPU-sized inputs only, but here it got "
            f"{r.verdict}: {r.message}"
        )
        pytest.skip(f"needs GPU: {problem.slug} rejects wrong:{bug} with a GPU-sized input")
    r = run_check(problem, f"wrong:{bug}", only=check)
    assert r.checks and all(c.name.split("[")[0] == check for c in r.checks), r.checks
    if gpu_only and cuda_count() == 0:
        assert r.verdict == "needs_gpu", (
            f"wrong:{bug} is marked '(GPU)' but got {r.verdict} without a GPU: {r.message}"
        )
        pytest.skip(f"needs GPU: {problem.slug} rejects wrong:{bug} at {check} on a GPU")
    assert r.verdict == verdict, f"{problem.slug} wrong:{bug} at {check}: {r.verdict}: {r.message}"


@pytest.mark.parametrize(("problem", "spec"), NULLS, ids=[f"{p.slug}-{s}" for p, s in NULLS])
def test_null_answer_is_rejected(problem, spec):
    r = run_check(problem, spec, fail_fast=True)
    if r.verdict == "error" and "null answers apply to function problems" in r.message:
        pytest.skip(f"{problem.slug}: its entry is a class; tensor null answers do not type-check")
    if r.verdict == "needs_gpu":
        assert cuda_count() == 0, f"{spec} got needs_gpu on a machine with a GPU: {r.message}"
        pytest.skip(f"needs GPU: {problem.slug} rejects {spec} on a GPU only ({r.message})")
    assert r.verdict == "failed", f"{problem.slug} {spec}: {r.verdict}: {r.message}"
