"""Property-based tests for rms_norm, run against any implementation through the `impl` fixture
(`pytest problems/rms_norm --impl attempt`, or `dojo check rms_norm`)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from grader.harness.compare import assert_close
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.spec import Tolerance
from reference import rms_norm as ref

SLUG = "rms_norm"


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_reference_on_fixed_cases(impl, problem, runtime, case):
    runtime.require_trusted(case)
    args = ref.make_inputs(case, runtime.gen(0))
    assert_close(impl.rms_norm(**args), ref.rms_norm(**args), problem.tol(case["dtype"]))


@given(case=cases(SLUG), seed=SEEDS)
def test_matches_reference_on_random_shapes(impl, problem, runtime, case, seed):
    assume(runtime.trusted(case))
    args = ref.make_inputs(case, runtime.gen(seed))
    assert_close(impl.rms_norm(**args), ref.rms_norm(**args), problem.tol(case["dtype"]))


@given(lead=st.lists(st.integers(1, 3), max_size=3), H=st.integers(1, 300), seed=SEEDS)
def test_accepts_any_leading_shape(impl, problem, runtime, lead, H, seed):
    case = {"lead": lead[:-1], "rows": lead[-1] if lead else 1, "H": H, "dtype": "float32"}
    args = ref.make_inputs(case, runtime.gen(seed))
    if not lead:  # a 1-D x of shape (H,) is a single row
        args["x"] = args["x"].reshape(H)
    assert_close(impl.rms_norm(**args), ref.rms_norm(**args), problem.tol("float32"))


@given(rows=st.integers(2, 5), H=st.integers(1, 200), pad=st.integers(1, 40), seed=SEEDS)
def test_reads_the_rows_of_a_view_at_their_stride(impl, problem, runtime, rows, H, pad, seed):
    """x = big[:, :H] is contiguous in its last dimension but its rows are H + pad apart."""
    big = torch.randn(rows, H + pad, generator=runtime.gen(seed), device=runtime.device)
    x = big[:, :H]  # (rows, H), row stride H + pad
    w = torch.randn(H, generator=runtime.gen(seed + 1), device=runtime.device)  # (H,)
    assert_close(
        impl.rms_norm(x, w, 1e-6),
        ref.rms_norm(x, w, 1e-6),
        problem.tol("float32"),
        name=f"rms_norm of a ({rows}, {H}) view with row stride {H + pad}",
    )


@given(case=cases(SLUG, dtype="float32", values="normal"), seed=SEEDS, scale=st.floats(1e-2, 1e2))
def test_invariant_to_positive_scaling_of_x(impl, problem, runtime, case, seed, scale):
    """With eps = 0, rms_norm(c * x) == rms_norm(x) for any c > 0 (the normalisation cancels c)."""
    args = ref.make_inputs(case, runtime.gen(seed))
    x, w = args["x"], args["weight"]
    assert_close(
        impl.rms_norm(x * scale, w, eps=0.0),
        impl.rms_norm(x, w, eps=0.0),
        problem.tol("float32"),
        name="rms_norm(c*x) vs rms_norm(x)",
    )


@given(
    case=cases(SLUG, dtype="float32", values="normal"),
    seed=SEEDS,
    a=st.floats(-3, 3),
    b=st.floats(-3, 3),
)
def test_linear_in_weight(impl, problem, runtime, case, seed, a, b):
    """rms_norm(x, a*w1 + b*w2) == a*rms_norm(x, w1) + b*rms_norm(x, w2)."""
    args = ref.make_inputs(case, runtime.gen(seed))
    x, w1 = args["x"], args["weight"]
    w2 = torch.randn(w1.shape, generator=runtime.gen(seed + 1), device=w1.device)
    lhs = impl.rms_norm(x, a * w1 + b * w2)
    rhs = a * impl.rms_norm(x, w1) + b * impl.rms_norm(x, w2)
    scale = float(rhs.abs().max()) if rhs.numel() else 1.0
    rtol = problem.tol("float32").rtol
    tol = Tolerance(rtol=4 * rtol, atol=4 * rtol * scale)  # three roundings on the right, not one
    assert_close(lhs, rhs, tol, name="rms_norm(x, a*w1 + b*w2) vs a*rms_norm(x, w1) + ...")


@given(
    rows=st.integers(1, 4),
    H=st.integers(1, 600),
    c=st.floats(1e-5, 1e2),
    seed=SEEDS,
    eps=st.sampled_from([1e-6, 1e-5, 1e-2]),
)
def test_constant_rows_match_closed_form(impl, problem, runtime, rows, H, c, seed, eps):
    """A row of constant c normalises to w * c / sqrt(c^2 + eps): eps must sit inside the root."""
    w = torch.randn(H, generator=runtime.gen(seed), device=runtime.device)  # (H,)
    x = torch.full((rows, H), c, device=runtime.device)  # (rows, H)
    expected = (w * (c / math.sqrt(c * c + eps))).expand(rows, H)
    assert_close(impl.rms_norm(x, w, eps), expected, problem.tol("float32"))


@pytest.mark.parametrize("case", fixed_cases(SLUG)[:8], ids=case_id)
def test_fused_add_rms_norm_when_present(impl, problem, runtime, case):
    if not impl.has("fused_add_rms_norm"):
        pytest.skip("optional fused_add_rms_norm is not implemented")
    runtime.require_trusted(case)
    args = ref.make_inputs(case, runtime.gen(1))
    residual = ref.make_inputs(case, runtime.gen(2))["x"]
    out, h = impl.fused_add_rms_norm(args["x"], residual, args["weight"], args["eps"])
    ref_out, ref_h = ref.fused_add_rms_norm(args["x"], residual, args["weight"], args["eps"])
    tol = problem.tol(case["dtype"])
    assert_close(h, ref_h, tol, name="residual output (x + residual)")
    assert_close(out, ref_out, tol, name="normalised output")
