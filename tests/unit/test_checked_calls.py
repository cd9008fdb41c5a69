"""Unit tests of the harness pieces every problem relies on: checked calls, comparisons,
null answers, and the PTX function extractor."""

from __future__ import annotations

import types

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.checked import CheckedImpl, ImplError
from grader.harness.compare import assert_close, assert_equal, assert_matches
from grader.harness.ptx import function_body
from grader.problem.nulls import null_module
from grader.problem.registry import get_problem
from grader.problem.spec import Tolerance
from grader.runtime.errors import NotAttempted

TOL = Tolerance(rtol=1e-5, atol=1e-6)


def _impl(fn) -> CheckedImpl:
    return CheckedImpl(types.SimpleNamespace(f=fn), ("f",), "test")


def test_checked_call_passes_a_well_behaved_function_through():
    x = torch.randn(5)
    assert torch.equal(_impl(lambda x: x * 2).f(x), x * 2)


def test_checked_call_catches_mutation_aliasing_and_reuse():
    x = torch.randn(5)
    with pytest.raises(AssertionError, match="modified its input 'x'"):
        _impl(lambda x: x.mul_(2)).f(x)
    with pytest.raises(AssertionError, match="shares memory with input 'x'"):
        _impl(lambda x: x[1:]).f(x)
    buf = torch.empty(5)
    reuse = _impl(lambda x: buf.copy_(x))
    reuse.f(torch.randn(5))
    with pytest.raises(AssertionError, match="overwrote the output of its previous call"):
        reuse.f(torch.randn(5))


def test_checked_call_names_the_exception_of_the_implementation():
    def boom(x):
        raise ValueError("bad shape")

    with pytest.raises(ImplError, match="f raised ValueError: bad shape"):
        _impl(boom).f(torch.randn(3))


def test_a_stub_is_not_attempted_but_a_deep_not_implemented_error_is_an_error():
    def stub(x):
        raise NotImplementedError

    with pytest.raises(NotAttempted):
        _impl(stub).f(torch.randn(3))

    def deep(x):
        return torch.empty(3, device="meta").cpu()  # torch raises NotImplementedError inside

    with pytest.raises(ImplError):
        _impl(deep).f(torch.randn(3))


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_assert_close_accepts_equal_tensors_and_rejects_a_perturbed_one(values):
    x = torch.tensor(values, dtype=torch.float64)
    assert_close(x.clone(), x, TOL)
    bumped = x.clone()
    bumped[len(values) // 2] += 1e-3 * (1 + abs(float(x[len(values) // 2])))
    with pytest.raises(AssertionError, match="1 of"):
        assert_close(bumped, x, TOL)


def test_assert_close_reports_nan_inf_shape_dtype_and_the_first_indices():
    e = torch.tensor([1.0, 2.0, float("inf"), float("nan")])
    assert_close(e.clone(), e, TOL)  # inf == inf and NaN where expected are fine
    with pytest.raises(AssertionError, match="NaN where the reference has none"):
        assert_close(torch.tensor([1.0, float("nan"), float("inf"), float("nan")]), e, TOL)
    with pytest.raises(AssertionError, match="2 of 4 elements differ"):
        assert_close(torch.tensor([1.0, 2.5, -float("inf"), float("nan")]), e, TOL)
    with pytest.raises(AssertionError, match=r"shape \(2, 2\), expected \(4,\)"):
        assert_close(e.reshape(2, 2), e, TOL)
    with pytest.raises(AssertionError, match="dtype torch.float64"):
        assert_close(e.double(), e, TOL)


def test_assert_equal_and_assert_matches_are_exact_for_integers():
    ids = torch.tensor([3, 1, 2])
    assert_equal(ids.clone(), ids)
    with pytest.raises(AssertionError, match="exact match"):
        assert_equal(torch.tensor([3, 2, 1]), ids)
    with pytest.raises(AssertionError, match=r"output\[1\]"):
        assert_matches(
            (torch.ones(2), torch.tensor([1, 2])),
            (torch.ones(2), torch.tensor([1, 3])),
            lambda dtype: TOL,
        )


def test_null_answers_are_built_from_the_reference():
    p = get_problem("rms_norm")
    x, w = torch.randn(3, 8), torch.randn(8)
    from reference.rms_norm import rms_norm

    want = rms_norm(x, w)
    assert torch.count_nonzero(null_module(p, "zeros").rms_norm(x, w)) == 0
    assert torch.equal(null_module(p, "copy").rms_norm(x, w), x)
    half = null_module(p, "fp16").rms_norm(x, w)
    assert half.dtype == torch.float32 and not torch.equal(half, want)
    assert float((half - want).abs().max()) < 1e-2  # close, but not within fp32 tolerance


PTX = """
.visible .entry outer(
{
	call.uni (retval0), _Z5innerf, (param0);
	ld.shared.f32 %f1, [%r1];
}
.func  (.param .b32 func_retval0) _Z5innerf(
{
	shfl.sync.bfly.b32 %r2|%p1, %r3, 16, 31, -1;
}
.visible .entry other(
{
	st.shared.f32 [%r1], %f1;
}
"""


def test_ptx_function_body_follows_calls_and_stops_at_the_function():
    body = function_body(PTX, "outer")
    assert "ld.shared" in body and "shfl.sync" in body and "st.shared" not in body
    assert "st.shared" in function_body(PTX, "other")
