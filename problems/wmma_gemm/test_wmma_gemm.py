"""Tests for wmma_gemm: Tensor Core instructions in the PTX (CPU, with nvcc) and the product
itself against an fp32-accumulated reference (GPU)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader.harness import ptx
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.registry import get_problem
from reference import wmma_gemm as ref

SLUG = "wmma_gemm"
RULES = get_problem(SLUG).static


@pytest.mark.static
@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_ptx_follows_static_rule(impl, rule):
    ptx.check_rule(ptx.source_of(impl), rule)


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_fp32_accumulated_reference_on_fixed_cases(hooks, impl, problem, runtime, case):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(0))
    hooks.compare(impl.matmul(**args), ref.matmul(**args), args)


@given(case=cases(SLUG), seed=SEEDS)
def test_matches_reference_on_random_shapes(hooks, impl, problem, runtime, case, seed):
    runtime.require()
    args = ref.make_inputs(case, runtime.gen(seed))
    hooks.compare(impl.matmul(**args), ref.matmul(**args), args)


@given(m=st.integers(1, 200), n=st.integers(1, 200), k=st.integers(1, 200), seed=SEEDS)
def test_identity_matrix_returns_a_exactly(impl, runtime, m, n, k, seed):
    """A @ I == A bit for bit: every product is x*1 or x*0, and every sum adds one nonzero."""
    runtime.require()
    a = torch.randn(m, k, generator=runtime.gen(seed), device="cuda").half()  # (M, K)
    eye = torch.eye(k, dtype=torch.float16, device="cuda")  # (K, K)
    got = impl.matmul(a, eye)
    assert torch.equal(got, a), f"A @ I differs from A in {int((got != a).sum())} places"


@given(seed=SEEDS, m=st.integers(1, 96), n=st.integers(1, 96), k=st.integers(1, 96))
def test_product_is_linear_in_b(impl, problem, runtime, seed, m, n, k):
    """A @ (B1 + B2) == A @ B1 + A @ B2 within fp16 rounding (catches cross-talk between
    tiles, e.g. a shared-memory race, that a single product can hide)."""
    runtime.require()
    g = runtime.gen(seed)
    a = torch.randn(m, k, generator=g, device="cuda").half()  # (M, K)
    b1 = torch.randn(k, n, generator=g, device="cuda").half()  # (K, N)
    b2 = torch.randn(k, n, generator=g, device="cuda").half()  # (K, N)
    lhs = impl.matmul(a, (b1.float() + b2.float()).half()).float()
    rhs = impl.matmul(a, b1).float() + impl.matmul(a, b2).float()
    scale = (k**0.5) * 2
    err = float((lhs - rhs).abs().max())
    assert err <= 8e-3 * scale, f"A@(B1+B2) - (A@B1 + A@B2): max |diff| {err:.3g}"
