"""Property-based tests for moe_dispatch (route, dispatch, combine, moe_forward), run against any
implementation through the `impl` fixture (`pytest problems/moe_dispatch --impl attempt`)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.compare import assert_close, assert_equal
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.spec import Tolerance
from reference import moe_dispatch as ref

SLUG = "moe_dispatch"
RANDOM = cases(SLUG).flatmap(lambda c: st.integers(1, c["E"]).map(lambda k: {**c, "k": k}))


def _tol(problem, dtype: torch.dtype, entry: str = "") -> Tolerance:
    """combine rounds once, so its bf16 bound is 1 ulp; everything else uses [tolerance]."""
    if entry == "combine" and dtype == torch.bfloat16:
        return Tolerance(**problem.params["combine_bfloat16"])
    return problem.tol(dtype)


def _routed(case, runtime, seed):
    """The case's inputs plus the reference routing: entries are tested one at a time."""
    args = ref.make_inputs(case, runtime.gen(seed))
    weights, ids = ref.route(args["logits"], case["k"])
    return args, weights, ids


def _check_route(impl, problem, logits, k):
    got = impl.route(logits, k)
    weights, ids = ref.route(logits, k)
    assert isinstance(got, tuple) and len(got) == 2, "route returns (weights, ids)"
    assert_equal(got[1], ids, name=f"route ids (top_k={k})")
    assert_close(got[0], weights, problem.tol("float32"), name=f"route weights (top_k={k})")


def _check_dispatch(impl, x, ids, num_experts):
    got = impl.dispatch(x, ids, num_experts)
    x_sorted, counts, order = ref.dispatch(x, ids, num_experts)
    assert isinstance(got, tuple) and len(got) == 3, "dispatch returns (x_sorted, counts, order)"
    assert_equal(got[1], counts, name="dispatch counts")
    assert_equal(got[2], order, name="dispatch order (stable sort of slots t*k+j by expert)")
    assert_equal(got[0], x_sorted, name="dispatch x_sorted (x[order // k])")


def _check_combine(impl, problem, y_sorted, order, weights):
    expected = ref.combine(y_sorted, order, weights)
    got = impl.combine(y_sorted, order, weights)
    assert_close(got, expected, _tol(problem, y_sorted.dtype, "combine"), name="combine")


def _check_forward(impl, problem, args):
    expected = ref.moe_forward(**args)
    assert_close(
        impl.moe_forward(**args),
        expected,
        _tol(problem, args["x"].dtype),
        name="moe_forward vs the per-token loop",
    )


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_route_matches_reference_on_fixed_cases(impl, problem, runtime, case):
    runtime.require_trusted(case)
    _check_route(impl, problem, ref.make_logits(case, runtime.gen(0)), case["k"])


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_dispatch_matches_reference_on_fixed_cases(impl, runtime, case):
    runtime.require_trusted(case)
    args, _, ids = _routed(case, runtime, 0)
    _check_dispatch(impl, args["x"], ids, case["E"])


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_combine_matches_reference_on_fixed_cases(impl, problem, runtime, case):
    runtime.require_trusted(case)
    args, weights, ids = _routed(case, runtime, 0)
    _, _, order = ref.dispatch(args["x"], ids, case["E"])
    y_sorted = torch.randn(
        order.numel(), case["H"], generator=runtime.gen(1), device=runtime.device
    ).to(args["x"].dtype)  # (T*k, H)
    _check_combine(impl, problem, y_sorted, order, weights)


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_moe_forward_matches_per_token_loop_on_fixed_cases(impl, problem, runtime, case):
    runtime.require_trusted(case)
    _check_forward(impl, problem, ref.make_inputs(case, runtime.gen(0)))


@given(case=RANDOM, seed=SEEDS)
def test_route_and_dispatch_match_reference_on_random_cases(impl, problem, runtime, case, seed):
    if not runtime.trusted(case):
        case = {**case, "dtype": "float32"}
    args, _, ids = _routed(case, runtime, seed)
    _check_route(impl, problem, args["logits"], case["k"])
    _check_dispatch(impl, args["x"], ids, case["E"])


@given(case=RANDOM, seed=SEEDS)
def test_combine_matches_reference_on_random_cases(impl, problem, runtime, case, seed):
    if not runtime.trusted(case):
        case = {**case, "dtype": "float32"}
    args, weights, ids = _routed(case, runtime, seed)
    _, _, order = ref.dispatch(args["x"], ids, case["E"])
    y_sorted = 4 * torch.randn(
        order.numel(), case["H"], generator=runtime.gen(seed + 1), device=runtime.device
    ).to(args["x"].dtype)  # (T*k, H)
    _check_combine(impl, problem, y_sorted, order, weights)


@given(case=RANDOM, seed=SEEDS)
def test_moe_forward_matches_per_token_loop_on_random_cases(impl, problem, runtime, case, seed):
    if not runtime.trusted(case):
        case = {**case, "dtype": "float32"}
    _check_forward(impl, problem, ref.make_inputs(case, runtime.gen(seed)))


@given(case=RANDOM, seed=SEEDS)
def test_route_weights_are_positive_descending_and_sum_to_one(impl, runtime, case, seed):
    k = case["k"]
    weights, ids = impl.route(ref.make_logits(case, runtime.gen(seed)), k)
    assert weights.shape == (case["T"], k) and weights.dtype == torch.float32, (
        f"weights must be ({case['T']}, {k}) float32, got {tuple(weights.shape)} {weights.dtype}"
    )
    sums = weights.double().sum(dim=-1)
    worst = float((sums - 1).abs().max())
    assert worst <= 1e-6, f"route weights must sum to 1 per token (renormalised): off {worst:.3g}"
    assert bool((weights > 0).all()), "route weights must be positive"
    assert bool((weights[:, 1:] <= weights[:, :-1]).all()), "weights must be in descending order"
    distinct = ids.sort(dim=-1).values.diff(dim=-1)
    assert bool((distinct > 0).all()), "a token must not pick the same expert twice"


@pytest.mark.parametrize(
    "row, k, expected",
    [
        ([0.0, 0.0, 0.0, 0.0], 2, [0, 1]),
        ([1.0, 3.0, 3.0, 0.0, 3.0], 2, [1, 2]),
        ([1.0, 3.0, 3.0, 0.0, 3.0], 3, [1, 2, 4]),
        ([2.0, 2.0, 2.0, 9.0], 3, [3, 0, 1]),
        ([-1.0, 5.0, 4.0, 5.0, 4.0, 4.0], 4, [1, 3, 2, 4]),
        ([7.0] * 8, 8, list(range(8))),
    ],
)
def test_route_breaks_ties_toward_the_lower_expert_id(impl, runtime, row, k, expected):
    logits = torch.tensor([row, row[::-1]], device=runtime.device)  # (2, E) also mirrored
    _, ids = impl.route(logits, k)
    mirrored = sorted(range(len(row)), key=lambda e: (-row[::-1][e], e))[:k]
    assert ids.tolist() == [expected, mirrored], (
        f"route({row}, top_k={k}): ids {ids.tolist()}, expected {[expected, mirrored]} "
        "(equal probabilities go to the lower id)"
    )


@given(T=st.integers(1, 40), E=st.integers(1, 12), data=st.data(), seed=SEEDS)
def test_route_ids_follow_the_tie_rule_on_tie_heavy_logits(impl, runtime, T, E, data, seed):
    """Oracle independent of the reference: ids = the first k of sorted(e, key=(-prob, e))."""
    k = data.draw(st.integers(1, E), label="k")
    logits = ref.make_logits({"T": T, "E": E, "logits": "ties"}, runtime.gen(seed))  # (T, E)
    probs = torch.softmax(logits.float(), dim=-1).tolist()
    expected = [sorted(range(E), key=lambda e, p=p: (-p[e], e))[:k] for p in probs]
    _, ids = impl.route(logits, k)
    assert ids.tolist() == expected, f"route ids differ from the (-prob, id) order; logits {logits}"


@given(T=st.integers(1, 60), E=st.integers(1, 10), data=st.data(), seed=SEEDS)
def test_dispatch_order_is_a_stable_sort_of_slots_by_expert(impl, runtime, T, E, data, seed):
    k = data.draw(st.integers(1, E), label="k")
    gen = runtime.gen(seed)
    # few distinct experts per token: long runs of equal ids, where stability matters
    ids = torch.randint(0, E, (T, k), generator=gen, device=runtime.device)  # (T, k)
    x = torch.randn(T, 3, generator=gen, device=runtime.device)  # (T, 3)
    x_sorted, counts, order = impl.dispatch(x, ids, E)
    flat = ids.flatten()  # (T*k,)
    assert order.dtype == torch.int64 and counts.dtype == torch.int64, "order, counts: int64"
    assert sorted(order.tolist()) == list(range(T * k)), "order must be a permutation of slots"
    key = (flat[order] * (T * k) + order).tolist()  # expert major, slot minor
    assert key == sorted(key), "order must sort slots by expert, keeping slot order within one"
    assert counts.tolist() == torch.bincount(flat, minlength=E).tolist(), "counts per expert"
    assert int(counts.sum()) == T * k, f"counts sum to {int(counts.sum())}, not T*k = {T * k}"
    assert_equal(x_sorted, x[order // k], name="x_sorted[i] == x[order[i] // k]")


@pytest.mark.parametrize("T, E, k, e", [(1, 1, 1, 0), (50, 4, 1, 2), (9, 5, 3, 4), (33, 8, 2, 0)])
def test_dispatch_puts_every_slot_on_one_expert_and_leaves_others_empty(impl, runtime, T, E, k, e):
    ids = torch.full((T, k), e, dtype=torch.int64, device=runtime.device)  # (T, k) skewed
    x = torch.randn(T, 4, generator=runtime.gen(3), device=runtime.device)  # (T, 4)
    x_sorted, counts, order = impl.dispatch(x, ids, E)
    expected_counts = [T * k if i == e else 0 for i in range(E)]
    assert counts.tolist() == expected_counts, f"counts {counts.tolist()}, not {expected_counts}"
    assert order.tolist() == list(range(T * k)), "one expert: a stable sort leaves slots in order"
    assert_equal(x_sorted, x.repeat_interleave(k, dim=0), name="x_sorted")


@given(case=RANDOM, seed=SEEDS)
def test_combine_of_dispatch_with_identity_experts_returns_x(impl, problem, runtime, case, seed):
    """Identity experts: y_sorted = x_sorted, and weights summing to 1 give back x. In bf16 the
    fp32 sum is within 1e-7 of x, so rounding to bf16 must return x exactly."""
    if not runtime.trusted(case):
        case = {**case, "dtype": "float32"}
    args, weights, ids = _routed(case, runtime, seed)
    x = args["x"]
    x_sorted, _, order = impl.dispatch(x, ids, case["E"])
    out = impl.combine(x_sorted, order, weights)
    if x.dtype == torch.bfloat16:
        assert_equal(out, x, name="combine(dispatch(x)) with identity experts, bf16")
    else:
        assert_close(out, x, problem.tol("float32"), name="combine(dispatch(x)), identity experts")


def test_combine_accumulates_in_float32(impl, runtime):
    """Terms 1, 256, -256 in every slot order: fp32 sums them to exactly 1. A bf16 running sum
    loses the 1 whenever it is added to +-256 first (257 is not a bf16 number)."""
    runtime.require_trusted({"dtype": "bfloat16"})
    terms = (1.0, 256.0, -256.0)
    w = torch.tensor([0.5, 0.25, 0.25])  # powers of two: every product is exact
    rows = [
        [terms[i] / float(w[j]) for j, i in enumerate(p)] for p in itertools.permutations(range(3))
    ]
    T, k, H = len(rows), 3, 8
    y = torch.tensor(rows).repeat_interleave(H, dim=1).view(T * k, H)  # (T*k, H) slot order
    order = torch.arange(T * k)  # identity permutation: y is already in slot order
    out = impl.combine(
        y.to(runtime.device, torch.bfloat16),
        order.to(runtime.device),
        w.repeat(T, 1).to(runtime.device),
    )
    assert_equal(
        out,
        torch.ones(T, H, dtype=torch.bfloat16, device=runtime.device),
        name="combine of weighted terms 1 + 256 - 256 (bf16 output)",
    )


@pytest.mark.parametrize("T, E, k", [(1, 4, 1), (40, 4, 1), (17, 6, 2)])
def test_moe_forward_with_all_tokens_on_one_expert_is_that_dense_mlp(
    impl, problem, runtime, T, E, k
):
    """Skew: a logit margin of 40 sends every token to expert 1 first; with k = 1 the layer is
    that expert's SwiGLU MLP on the whole batch, an oracle with no routing at all."""
    case = {"T": T, "E": E, "k": k, "H": 24, "F": 40, "dtype": "float32"}
    args = ref.make_inputs(case, runtime.gen(5))
    args["logits"][:, 1] = 40.0
    if k == 1:
        x, wg, wu, wd = args["x"], args["w_gate"][1], args["w_up"][1], args["w_down"][1]
        dense = (F.silu(x @ wg.T) * (x @ wu.T)) @ wd.T  # (T, H)
        assert_close(
            impl.moe_forward(**args),
            dense,
            problem.tol("float32"),
            name="moe_forward with every token on expert 1",
        )
    _check_forward(impl, problem, args)


@given(case=RANDOM, seed=SEEDS)
def test_moe_forward_commutes_with_permuting_tokens(impl, problem, runtime, case, seed):
    case = {**case, "dtype": "float32"}
    args = ref.make_inputs(case, runtime.gen(seed))
    perm = torch.randperm(case["T"], generator=runtime.gen(seed + 1), device=runtime.device)
    shuffled = {**args, "x": args["x"][perm], "logits": args["logits"][perm]}
    assert_close(
        impl.moe_forward(**shuffled),
        impl.moe_forward(**args)[perm],
        problem.tol("float32"),
        name="moe_forward(x[perm]) vs moe_forward(x)[perm]",
    )
