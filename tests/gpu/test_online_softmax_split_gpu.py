"""online_softmax's cross-program split path (rows > 16384 on CUDA) against the reference: it
never runs in the Triton interpreter (programs there run one after another), so only here.
Skipped without a CUDA GPU."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.harness.compare import assert_close
from grader.harness.hooks import hooks_for
from grader.problem.registry import get_problem
from reference import online_softmax as ref
from solutions.online_softmax import triton as sol
from solutions.online_softmax import wrong_no_max_shift, wrong_stale_running_sum
from solutions.online_softmax import wrong_zero_for_all_neg_inf_rows as wrong_zero

pytestmark = pytest.mark.gpu
HOOKS = hooks_for(get_problem("online_softmax"))
VALUES = ["normal", "wide", "large", "near_1e4", "offset", "neginf", "neginf_prefix", "all_neginf"]
SHIPPED = (sol.SPLIT_BLOCK, sol.SPLIT_WARPS, sol.TICKETS)
NEIGHBOURS = [(8192, 8, True), (16384, 16, True), (8192, 8, False), (4096, 8, True)]
# (SPLIT_BLOCK, SPLIT_WARPS, TICKETS): the shipped one first, then neighbours
CONFIGS = [SHIPPED, *(c for c in NEIGHBOURS if c != SHIPPED)]


class _NotTheSplitPath:
    def __getitem__(self, grid):
        raise AssertionError("the looped path ran: these rows should take the split path")


@pytest.fixture(params=CONFIGS, ids=lambda c: "block{}-warps{}-tickets{}".format(*c))
def split_only(request, monkeypatch):
    """The solution with one split configuration, its looped fallback made to fail if called."""
    block, warps, tickets = request.param
    monkeypatch.setattr(sol, "SPLIT_BLOCK", block)
    monkeypatch.setattr(sol, "SPLIT_WARPS", warps)
    monkeypatch.setattr(sol, "TICKETS", tickets)
    monkeypatch.setattr(sol, "_softmax_looped_kernel", _NotTheSplitPath())
    return block


def inputs(M: int, N: int, dtype: str, values: str, seed: int) -> torch.Tensor:
    gen = torch.Generator(device="cuda").manual_seed(seed)
    case = {"M": M, "N": N, "dtype": dtype, "values": values}
    return ref.make_inputs(case, gen)["x"]  # (M, N)


def check(x: torch.Tensor, softmax=sol.softmax) -> None:
    got = softmax(x)
    torch.cuda.synchronize()
    assert_close(got, ref.softmax(x), HOOKS.tolerance(x.dtype, x.shape[-1]), name="softmax(x)")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    M=st.integers(1, 9),
    N=st.integers(16385, 262144),
    dtype=st.sampled_from(["float32", "float16", "bfloat16"]),
    values=st.sampled_from(VALUES),
    seed=st.integers(0, 2**31 - 1),
)
def test_split_path_matches_reference_on_random_shapes(split_only, M, N, dtype, values, seed):
    check(inputs(M, N, dtype, values, seed))


@pytest.mark.parametrize("values", VALUES)
@pytest.mark.parametrize("extra", [-1, 0, 1, 4097])
def test_split_path_at_chunk_boundaries(split_only, values, extra):
    """N a multiple of the chunk, one short, one over (a last chunk of one element), ragged."""
    n = max(3, sol.MAX_ROW_BLOCK // split_only + 2) * split_only + extra  # past one program
    check(inputs(5, n, "float32", values, seed=extra + 7))


def test_split_path_at_the_longest_row_and_the_bench_shape(split_only):
    check(inputs(3, 262144, "float32", "normal", seed=1))
    check(inputs(256, 131072, "float32", "offset", seed=2))


def test_whole_chunks_of_neg_inf_and_a_max_in_the_last_chunk(split_only):
    x = torch.full((4, 100_000), float("-inf"), device="cuda")  # (M, N)
    x[0, -1] = 3.0  # one finite entry, in the last (partial) chunk
    x[1, -5000:] = torch.randn(5000, device="cuda")
    x[2, : split_only + 1] = torch.randn(split_only + 1, device="cuda") + 1e4  # spans 2 chunks
    check(x)  # row 3 stays all -inf: NaN everywhere, like torch
    y = sol.softmax(x)
    assert bool(y[3].isnan().all()) and float(y[0, -1]) == 1.0


def test_row_strided_views_take_the_split_path(split_only):
    wide = inputs(6, 70_000, "float16", "offset", seed=3)  # (M, 70000)
    check(wide[:, :50_001])  # row stride 70000, N = 50001


def test_a_row_stride_of_one_is_not_special(split_only):
    """A (1, N) view of a column has row stride 1, which Triton passes as a constexpr."""
    col = inputs(40_000, 1, "float32", "normal", seed=8)  # (N, 1)
    check(col.t())  # (1, N), strides (1, 1)


@pytest.mark.parametrize("M", [37, 131])
def test_odd_row_counts(split_only, M):
    """Row counts that no chunk count divides: tickets map to (row, chunk) to the last one."""
    check(inputs(M, 100_000, "float32", "offset", seed=M))


def test_repeated_calls_leave_no_stale_state(split_only):
    """Every call gets a fresh, zeroed workspace: back-to-back calls with other inputs, shapes
    and a row count that changes the workspace size must each match on their own."""
    shapes = [(64, 131072), (64, 131072), (3, 40000), (64, 131072), (1, 262144), (17, 16385)]
    xs = [inputs(m, n, "float32", v, i) for i, ((m, n), v) in enumerate(zip(shapes, VALUES))]
    outs = [sol.softmax(x) for x in xs]  # queued back to back, no sync in between
    torch.cuda.synchronize()
    for x, y in zip(xs, outs):
        assert_close(y, ref.softmax(x), HOOKS.tolerance(x.dtype, x.shape[-1]), name="softmax(x)")


def test_calls_on_two_streams_at_once_do_not_interfere(split_only):
    a, b = inputs(128, 131072, "float32", "offset", 4), inputs(128, 131072, "float32", "wide", 5)
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    torch.cuda.synchronize()
    with torch.cuda.stream(s1):
        ya = sol.softmax(a)
    with torch.cuda.stream(s2):
        yb = sol.softmax(b)
    torch.cuda.synchronize()
    for x, y in ((a, ya), (b, yb)):
        assert_close(y, ref.softmax(x), HOOKS.tolerance(x.dtype, x.shape[-1]), name="softmax(x)")


@pytest.mark.parametrize(
    "variant, values",
    [(wrong_no_max_shift, "near_1e4"), (wrong_zero, "all_neginf")],
)
def test_wrong_variants_are_still_wrong_on_the_split_path(split_only, variant, values):
    with pytest.raises(AssertionError, match="softmax"):
        check(inputs(4, 50_000, "float32", values, seed=6), softmax=variant.softmax)


def test_the_unrescaled_sum_is_wrong_on_the_split_path(split_only):
    # past MAX_ROW_BLOCK (else one program holds the row and nothing is rescaled), >= 3 chunks
    n = max(3 * split_only, sol.MAX_ROW_BLOCK + 2 * split_only)
    x = torch.randn(2, n, device="cuda")  # (M, N)
    x[:, -1] = 30.0  # the max in the last chunk: every other chunk's sum needs rescaling
    with pytest.raises(AssertionError, match="softmax"):
        check(x, softmax=wrong_stale_running_sum.softmax)
