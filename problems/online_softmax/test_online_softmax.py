"""Property-based tests for online_softmax, run against any implementation through the `impl`
fixture (`pytest problems/online_softmax --impl attempt`, or `dojo check online_softmax`)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from grader.harness.compare import assert_close, check_like
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.registry import get_problem
from reference import online_softmax as ref

SLUG = "online_softmax"
LONG_N = get_problem(SLUG).params["long_N"]
NEG_INF = float("-inf")


def check(impl, hooks, x: torch.Tensor, name: str = "softmax(x)") -> torch.Tensor:
    """impl.softmax(x) against the reference within the tolerance of x's dtype; returns it."""
    got = impl.softmax(x)
    assert_close(got, ref.softmax(x), hooks.tolerance(x.dtype, x.shape[-1]), name=name)
    return got


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_reference_on_fixed_cases(hooks, impl, problem, runtime, case):
    runtime.require_trusted(case)
    check(impl, hooks, ref.make_inputs(case, runtime.gen(0))["x"])


@given(case=cases(SLUG), seed=SEEDS)
def test_matches_reference_on_random_shapes(hooks, impl, problem, runtime, case, seed):
    assume(runtime.trusted(case))
    check(impl, hooks, ref.make_inputs(case, runtime.gen(seed))["x"])


@given(
    case=cases(
        SLUG,
        M=st.integers(1, 2),
        N=st.integers(*LONG_N),
        dtype=st.sampled_from(["float32", "float16"]),
    ),
    seed=SEEDS,
)
def test_matches_reference_on_rows_longer_than_one_block(hooks, impl, problem, runtime, case, seed):
    """Past ~16K elements a row no longer fits one program: the online (max, sum) path runs."""
    check(impl, hooks, ref.make_inputs(case, runtime.gen(seed))["x"])


def _live_rows(x: torch.Tensor) -> torch.Tensor:
    return ~torch.isneginf(x).all(dim=1)  # (M,) rows with at least one finite entry


@given(
    case=cases(
        SLUG,
        dtype="float32",
        values=st.sampled_from(
            ["normal", "wide", "large", "near_1e4", "offset", "neginf", "neginf_prefix"]
        ),
    ),
    seed=SEEDS,
)
def test_rows_sum_to_one(hooks, impl, problem, runtime, case, seed):
    x = ref.make_inputs(case, runtime.gen(seed))["x"]  # (M, N)
    y = impl.softmax(x)
    check_like(y, x, "softmax(x)")
    n = x.shape[1]
    tol = hooks.tolerance(x.dtype, n)
    bound = tol.rtol + n * tol.atol  # every output is within rtol*y + atol, and sum(y) = 1
    sums = y.double().sum(dim=1)[_live_rows(x)]  # (live M,)
    bad = ~((sums - 1).abs() <= bound)  # NaN counts as bad
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise AssertionError(
            f"{int(bad.sum())} of {sums.numel()} rows (N={n}) do not sum to 1; "
            f"live row {i} sums to {float(sums[i]):.9g} (allowed |sum - 1| <= "
            f"{bound:.3g})"
        )


@given(M=st.integers(1, 4), N=st.integers(1, 2000), base=st.integers(-900, 900), seed=SEEDS)
def test_invariant_to_adding_a_constant_to_each_row(
    hooks, impl, problem, runtime, M, N, base, seed
):
    """softmax(x + c) == softmax(x) for a per-row constant c. x holds multiples of 2^-8 and c
    integers below 1000, so x + c is exact in fp32 and the true outputs are identical; |c| up
    to 1000 also overflows exp for any kernel that forgets to subtract the max."""
    gen = runtime.gen(seed)
    x = torch.round(torch.randn(M, N, generator=gen, device=runtime.device) * 256) / 256  # (M, N)
    c = base + torch.randint(-99, 100, (M, 1), generator=gen, device=runtime.device)  # (M, 1)
    tol = hooks.tolerance(torch.float32, N)
    assert_close(impl.softmax(x + c), impl.softmax(x), tol, name="softmax(x + c) vs softmax(x)")


@given(
    case=cases(
        SLUG,
        dtype=st.sampled_from(["float32", "float16"]),
        values=st.sampled_from(["normal", "wide", "large", "neginf", "offset"]),
    ),
    seed=SEEDS,
)
def test_larger_inputs_never_get_smaller_outputs(hooks, impl, problem, runtime, case, seed):
    """x_i > x_j implies y_i >= y_j, up to the tolerance: GPU exp approximations are accurate
    to a few ulp but not promised to be monotone ulp by ulp."""
    x = ref.make_inputs(case, runtime.gen(seed))["x"]  # (M, N)
    y = impl.softmax(x)
    check_like(y, x, "softmax(x)")
    live = _live_rows(x)
    x, y = x[live].double(), y[live].double()  # (live M, N)
    assert not bool(y.isnan().any()), "NaN in a row that has a finite entry"
    order = torch.argsort(x, dim=1, stable=True)  # ascending x
    xs, ys = x.gather(1, order), y.gather(1, order)  # (live M, N)
    tol = hooks.tolerance(case["dtype"], x.shape[1])
    drop = ys[:, :-1] - ys[:, 1:]  # > 0 where the larger (or equal) x got the smaller y
    bad = drop > tol.atol + tol.rtol * ys[:, 1:]
    if bool(bad.any()):
        r, k = (int(v) for v in bad.nonzero()[0])
        raise AssertionError(
            f"{int(bad.sum())} monotonicity violations; e.g. x = "
            f"{float(xs[r, k]):.6g} -> y = {float(ys[r, k]):.6g} but x = "
            f"{float(xs[r, k + 1]):.6g} -> y = {float(ys[r, k + 1]):.6g}"
        )


@given(
    case=cases(
        SLUG,
        dtype=st.sampled_from(["float32", "float16"]),
        values=st.sampled_from(["neginf", "neginf_prefix"]),
    ),
    seed=SEEDS,
)
def test_neg_inf_entries_give_exactly_zero(impl, problem, runtime, case, seed):
    x = ref.make_inputs(case, runtime.gen(seed))["x"]  # (M, N)
    y = impl.softmax(x)
    check_like(y, x, "softmax(x)")
    masked = torch.isneginf(x) & _live_rows(x)[:, None]  # (M, N) -inf entries of live rows
    bad = masked & (y != 0)  # NaN != 0 counts as bad
    if bool(bad.any()):
        r, k = (int(v) for v in bad.nonzero()[0])
        raise AssertionError(
            f"{int(bad.sum())} of {int(masked.sum())} -inf entries did not give "
            f"exactly 0; first at ({r}, {k}): got {float(y[r, k])}"
        )


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("N", [1, 7, 1000, 20000])
def test_an_all_neg_inf_row_gives_nan_like_torch(hooks, impl, problem, runtime, N, dtype):
    """torch.softmax of a row of -inf is 0/0 = NaN; the rows around it stay normal."""
    x = torch.randn(3, N, generator=runtime.gen(N), device=runtime.device)  # (3, N)
    x[1] = NEG_INF
    x = x.to(getattr(torch, dtype))
    y = check(impl, hooks, x)
    assert bool(y[1].isnan().all()), (
        f"row 1 is all -inf (N={N}): torch gives NaN, got "
        f"{int((~y[1].isnan()).sum())} non-NaN outputs, e.g. "
        f"{y[1, :3].tolist()}"
    )


@pytest.mark.parametrize("N", [20000, 70000])
def test_online_rescaling_on_rows_whose_max_keeps_growing(hooks, impl, problem, runtime, N):
    """Row 0 rises: every block raises the running max, so the running sum must be rescaled
    each time. Row 1 falls (max in the first block). Row 2 is -inf for 3/4 of its length."""
    gen, dev = runtime.gen(N), runtime.device
    ramp = torch.linspace(-30, 30, N, device=dev) + 0.1 * torch.randn(N, generator=gen, device=dev)
    late = torch.full((N,), NEG_INF, device=dev)
    late[3 * N // 4 :] = ramp[3 * N // 4 :]
    check(impl, hooks, torch.stack([ramp, ramp.flip(0), late]))  # (3, N)


@given(M=st.integers(1, 4), N=st.integers(1, 600), pad=st.integers(1, 17), seed=SEEDS)
def test_accepts_a_view_with_a_row_stride(hooks, impl, problem, runtime, M, N, pad, seed):
    """x may be a view of wider rows (logits[:, :vocab]): row stride N + pad, column stride 1."""
    wide = torch.randn(M, N + pad, generator=runtime.gen(seed), device=runtime.device)
    check(impl, hooks, wide[:, :N], name="softmax(x[:, :N])")
