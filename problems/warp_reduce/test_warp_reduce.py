"""Tests for warp_reduce: PTX static rules (CPU, with nvcc) and the sums themselves (GPU)."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given

from grader.harness import ptx
from grader.harness.checked import run_in_worker
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.registry import get_problem
from reference import warp_reduce as ref

SLUG = "warp_reduce"
RULES = get_problem(SLUG).static


@pytest.mark.static
@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_ptx_follows_static_rule(impl, rule):
    ptx.check_rule(ptx.source_of(impl), rule)


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_float64_sum_on_fixed_cases(hooks, impl, problem, runtime, case):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(0))
    hooks.compare(impl.reduce_sum(**args), ref.reduce_sum(**args), args)


@given(case=cases(SLUG), seed=SEEDS)
def test_matches_float64_sum_on_random_sizes(hooks, impl, problem, runtime, case, seed):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(seed))
    hooks.compare(impl.reduce_sum(**args), ref.reduce_sum(**args), args)


@given(seed=SEEDS)
def test_sum_is_invariant_to_a_permutation(hooks, impl, problem, runtime, seed):
    """Reordering x changes only rounding: both sums stay within the bound of the exact sum."""
    runtime.require()
    args = ref.make_inputs({"N": 100003, "values": "offset"}, runtime.gen(seed))
    perm = torch.randperm(100003, generator=runtime.gen(seed + 1), device=runtime.device)
    shuffled = {"x": args["x"][perm]}
    hooks.compare(impl.reduce_sum(**shuffled), ref.reduce_sum(**shuffled), shuffled)
    hooks.compare(impl.reduce_sum(**args), ref.reduce_sum(**args), args)


PROBE = """
extern "C" __global__ void dojo_warp_probe(const float* in, float* out) {
    float v = warp_reduce_sum(in[threadIdx.x]);
    if ((threadIdx.x & 31) == 0) out[threadIdx.x >> 5] = v;
}
"""


def _run_warp_probe(module, x: torch.Tensor) -> torch.Tensor:
    """Runs in the worker: the warp_reduce_sum device function alone, in a probe kernel."""
    from grader.runtime.cuda import launch

    probe = _probe(module.SOURCE)
    out = torch.full((4,), float("nan"), device="cuda")
    launch(probe.kernel("dojo_warp_probe"), (1,), (128,), (x, out))
    return out


@functools.cache
def _probe(source):
    return source.with_extra(PROBE)  # compiled once per implementation, then reused


@given(seed=SEEDS)
def test_warp_reduce_sum_totals_each_warp_in_lane_0(impl, runtime, seed):
    """The device function alone: 4 warps of one block, each warp's total lands in its lane 0."""
    runtime.require()
    ptx.source_of(impl)  # skips for an implementation that is not CUDA C
    x = torch.randn(128, generator=runtime.gen(seed), device="cuda") * 10  # (4 warps * 32,)
    out = run_in_worker(impl, _run_warp_probe, x)
    expected = x.double().view(4, 32).sum(dim=1)
    bound = 1e-5 * x.double().abs().view(4, 32).sum(dim=1) + 1e-6
    err = (out.double() - expected).abs()
    assert bool((err <= bound).all()), (
        f"warp_reduce_sum: per-warp totals {out.tolist()}, expected {expected.tolist()}"
    )


def test_sums_aligned_and_misaligned_views_of_integers_exactly(impl, runtime):
    """Small integers sum exactly in fp32, whatever the order: any lost element shows."""
    runtime.require()
    base = torch.arange(1, 4099, dtype=torch.float32, device="cuda")  # (4098,)
    for x in (base[:4096], base[3:], base[2:7], base[1:2]):
        got, want = float(impl.reduce_sum(x)), float(x.double().sum())
        assert got == want, f"sum of a view of {x.numel()} integers: got {got}, expected {want}"
