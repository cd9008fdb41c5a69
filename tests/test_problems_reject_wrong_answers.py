"""The grader rejects every known-wrong variant (solutions/<slug>/wrong_*.py) and the generic
null answers (zeros, an input copy, the reference in float16), through the real sandbox."""

from __future__ import annotations

import pytest

from grader.impls import NULL_KINDS, wrong_variants
from grader.registry import all_problems
from grader.runtime import cuda_count
from grader.sandbox import run_check

PROBLEMS = all_problems()
WRONG = [(p, f"wrong:{w}") for p in PROBLEMS for w in wrong_variants(p)]
NULLS = [(p, f"null:{k}") for p in PROBLEMS for k in NULL_KINDS]
# variants whose bug needs GPU-sized inputs (problem.toml [params] wrong_on_gpu_only)
GPU_ONLY = {(p.slug, f"wrong:{w}") for p in PROBLEMS for w in p.params.get("wrong_on_gpu_only", [])}


def _ids(pairs):
    return [f"{p.slug}-{spec}" for p, spec in pairs]


def test_every_problem_ships_at_least_two_wrong_variants():
    few = [p.slug for p in PROBLEMS if len(wrong_variants(p)) < 2]
    assert not few, f"problems with fewer than two wrong_*.py: {few}"


def test_wrong_on_gpu_only_names_shipped_variants():
    shipped = {(p.slug, spec) for p, spec in WRONG}
    unknown = sorted(f"{slug}-{spec}" for slug, spec in GPU_ONLY - shipped)
    assert not unknown, f"[params] wrong_on_gpu_only names no wrong_*.py: {unknown}"


def _check_rejected(problem, spec):
    r = run_check(problem, spec, fail_fast=True)
    if r.verdict == "needs_gpu":
        assert cuda_count() == 0, f"{spec} got needs_gpu on a machine with a GPU: {r.message}"
        pytest.skip(f"needs GPU: {problem.slug} rejects {spec} on a GPU only ({r.message})")
    if (problem.slug, spec) in GPU_ONLY and cuda_count() == 0:
        gpu_checks = sum(c.needs_gpu for c in r.checks)
        assert r.verdict == "passed" and gpu_checks, (
            f"{spec} is listed as rejected on a GPU only, but here it got {r.verdict}: {r.message}"
        )
        pytest.skip(
            f"needs GPU: {problem.slug} rejects {spec} on a GPU only (its bug needs a "
            f"GPU-sized input; {gpu_checks} GPU checks did not run here)"
        )
    assert r.verdict in ("failed", "error", "crashed"), (
        f"{problem.slug} accepted {spec}: {r.verdict}: {r.message}"
    )
    return r


@pytest.mark.parametrize(("problem", "spec"), WRONG, ids=_ids(WRONG))
def test_wrong_variant_is_rejected(problem, spec):
    r = _check_rejected(problem, spec)
    assert "internal error" not in r.message, r.message  # rejected for its bug, not ours


@pytest.mark.parametrize(("problem", "spec"), NULLS, ids=_ids(NULLS))
def test_null_answer_is_rejected(problem, spec):
    r = run_check(problem, spec, fail_fast=True)
    if r.verdict == "error" and "null answers apply to function problems" in r.message:
        pytest.skip(f"{problem.slug}: its entry is a class; tensor null answers do not type-check")
    _check_rejected(problem, spec)
