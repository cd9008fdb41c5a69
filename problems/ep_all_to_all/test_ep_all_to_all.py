"""Tests for ep_all_to_all: every case runs on 4 gloo ranks on the CPU (one group of W = 4, or
two groups of W = 2, or four of W = 1), each rank compares its output with the single-process
MoE on its own tokens, and the parent checks on which rank every expert ran. The 4 processes
start once per module (grader.runtime.ranks.Ranks), so a case costs milliseconds, not a spawn."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.distributed as dist
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.checked import CheckedImpl
from grader.harness.compare import assert_close, assert_equal
from grader.harness.strategies import SEEDS, cases, fixed_cases
from grader.problem.impls import load, resolve
from grader.problem.registry import get_problem
from grader.runtime.ranks import RankDied, Ranks, RanksTimedOut
from reference import ep_all_to_all as ref

SLUG = "ep_all_to_all"
WORLD = 4  # processes; W = 2 and W = 1 run as independent subgroups of them
RUN_TIMEOUT_S = 60.0


# ---- parent side: the tests ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranks(impl):  # takes impl: an implementation that does not import fails before any spawn
    # restart=False: once an implementation kills or hangs the ranks, later cases fail at once
    # with that first failure instead of each paying a start-up (or a whole timeout) again.
    with Ranks(WORLD, backend="gloo", timeout_s=RUN_TIMEOUT_S, restart=False) as pool:
        yield pool


def _case_id(case: dict) -> str:
    tokens = "_".join(map(str, case["tokens"]))
    return (
        f"W{case['W']}-T{tokens}-E{case['L'] * case['W']}-k{case['k']}-H{case['H']}-"
        f"{case['routing']}-{case['dtype']}"
    )


def _run(ranks: Ranks, spec: str, case: dict, seed: int = 0) -> list[dict]:
    """The case on every rank; a rank that dies or hangs is this implementation's failure."""
    try:
        return ranks.run(_rank_case, spec, case, seed, what=f"{_case_id(case)} (seed {seed})")
    except (RanksTimedOut, RankDied) as e:
        pytest.fail(str(e), pytrace=False)


def _check_owners(results: list[dict], case: dict) -> None:
    """Every expert ran only on the rank that owns it (rank r owns [r*L, (r+1)*L)), and on
    exactly as many rows as the group routed to it."""
    W, L = case["W"], case["L"]
    for g in range(WORLD // W):
        members = [res for res in results if res["group"] == g]
        routed = [sum(col) for col in zip(*(res["routed"] for res in members))]
        rows = [0] * (W * L)
        for res in members:
            for e, n in res["ran"]:
                assert e // L == res["rank"], (
                    f"{_case_id(case)}: expert {e} ran on rank {res['rank']} of its {W}-rank "
                    f"group; it belongs to rank {e // L} (rank r owns experts [r*E/W, (r+1)*E/W)"
                    f", E={W * L}): rows must be sent to the owner"
                )
                rows[e] += n
        assert rows == routed, (
            f"{_case_id(case)}: rows each expert processed {rows} != slots routed to it {routed} "
            "(rows lost or sent twice)"
        )


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=_case_id)
def test_matches_single_process_moe_on_fixed_cases(ranks, impl_spec, case):
    _run(ranks, impl_spec, case)


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=_case_id)
def test_each_expert_runs_only_on_its_owning_rank(ranks, impl_spec, impl_ref, case):
    if impl_ref.kind == "reference":
        pytest.skip("the reference runs every expert locally, by design")
    _check_owners(_run(ranks, impl_spec, case), case)


@st.composite
def _random_cases(draw: st.DrawFn) -> dict:
    case = draw(cases(SLUG))
    lo, hi = get_problem(SLUG).ranges["T"]
    case["tokens"] = draw(st.lists(st.integers(lo, hi), min_size=case["W"], max_size=case["W"]))
    case["k"] = min(case["k"], case["L"] * case["W"])
    del case["T"]
    return case


@given(case=_random_cases(), seed=SEEDS)
def test_matches_single_process_moe_and_keeps_experts_on_owners_on_random_cases(
    ranks, impl_spec, impl_ref, case, seed
):
    results = _run(ranks, impl_spec, case, seed)
    if impl_ref.kind != "reference":
        _check_owners(results, case)


@given(
    T=st.integers(0, 40),
    L=st.integers(1, 4),
    W=st.sampled_from([1, 2, 4]),
    k=st.integers(1, 4),
    routing=st.sampled_from(ref.ROUTINGS),
    seed=SEEDS,
)
def test_dispatch_plan_sorts_slots_by_owner_when_present(impl, runtime, T, L, W, k, routing, seed):
    """Single process, no spawn (on the GPU when there is one): the send order and splits."""
    if not impl.has("dispatch_plan"):
        pytest.skip("optional dispatch_plan is not implemented")
    E, k = L * W, min(k, L * W)
    ids = ref.route(T, E, W, k, routing, runtime.gen(seed))  # (T, k)
    order, send_counts = impl.dispatch_plan(ids, E, W)
    want_order, want_counts = ref.dispatch_plan(ids, E, W)
    assert_equal(
        torch.sort(order).values,
        torch.arange(T * k, device=ids.device),
        name="sorted(order) (a permutation of the slots t*k+j)",
    )
    assert_equal(order, want_order, name="order (a stable sort of the slots by expert id)")
    assert_equal(send_counts, want_counts, name="send_counts (slots routed to each rank)")


@given(
    T=st.integers(0, 40),
    k=st.integers(1, 4),
    H=st.integers(1, 40),
    dtype=st.sampled_from(["float32", "bfloat16"]),
    seed=SEEDS,
)
def test_combine_undoes_any_dispatch_order_when_present(
    impl, problem, runtime, T, k, H, dtype, seed
):
    """Single process, no spawn (on the GPU when there is one): the last step, for an arbitrary
    permutation."""
    if not impl.has("combine"):
        pytest.skip("optional combine is not implemented")
    gen, dev = runtime.gen(seed), runtime.device
    order = torch.randperm(T * k, generator=gen, device=dev)  # row i of y_sorted is slot order[i]
    y_sorted = torch.randn(T * k, H, generator=gen, device=dev) * 4  # (T*k, H)
    y_sorted = y_sorted.to(getattr(torch, dtype))
    weights = torch.softmax(torch.randn(T, k, generator=gen, device=dev), dim=-1)  # (T, k)
    by_slot = torch.empty_like(y_sorted)
    by_slot[order] = y_sorted
    by_slot = by_slot.view(T, k, H).double()  # (T, k, H)
    expected = (weights.double()[..., None] * by_slot).sum(1).to(y_sorted.dtype)  # (T, H)
    assert_close(
        impl.combine(y_sorted, order, weights), expected, problem.tol(dtype), name="combine output"
    )


# ---- rank side: runs inside each of the WORLD processes ------------------------------------------


def _rank_case(spec: str, case: dict, seed: int) -> dict:
    """This rank's share of a case: its tokens, the implementation's ep_moe in its W-rank group,
    the reference on the same tokens, compared here. Returns the experts it ran (and on how many
    rows) and how many of its slots it routed to each expert, for the ownership check."""
    W, E = case["W"], case["L"] * case["W"]
    group, g, r = _my_group(W)
    one = {
        "T": case["tokens"][r],
        "H": case["H"],
        "E": E,
        "W": W,
        "k": case["k"],
        "routing": case["routing"],
        "dtype": case["dtype"],
    }
    inputs = ref.make_inputs(one, torch.Generator().manual_seed(seed * 1009 + g * 31 + r))
    table = _expert_table(E, case["H"], seed)  # the same experts on every rank
    ran: list[tuple[int, int]] = []
    extra = {} if group is None else {"group": group}  # W = 4 also exercises the default group
    got = _impl(spec).ep_moe(**inputs, expert_fn=functools.partial(_expert, table, ran), **extra)
    expected = ref.ep_moe(**inputs, expert_fn=functools.partial(_expert, table, []))
    try:
        assert_close(got, expected, get_problem(SLUG).tol(case["dtype"]), name="output")
    except AssertionError as e:
        raise AssertionError(
            f"{_case_id(case)}, seed {seed}, group rank {r} of {W} with {one['T']} tokens: {e}"
        ) from None
    routed = torch.bincount(inputs["ids"].reshape(-1), minlength=E).tolist()
    return {"group": g, "rank": r, "ran": ran, "routed": routed}


def _expert(
    table: tuple[torch.Tensor, torch.Tensor], ran: list, e: int, rows: torch.Tensor
) -> torch.Tensor:
    """Expert e: an elementwise affine map with signed per-expert scales (so weighted sums
    cancel), computed in fp32 and rounded to the rows' dtype; logs (e, rows) for the owner check."""
    scale, bias = table
    ran.append((int(e), int(rows.shape[0])))
    return (rows.float() * scale[e] + bias[e]).to(rows.dtype)  # (n, H)


def _expert_table(E: int, H: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed + 7)
    scale = torch.randn(E, H, generator=gen) * 2  # (E, H)
    return scale, torch.randn(E, H, generator=gen)  # (E, H) bias


def _my_group(W: int) -> tuple[object | None, int, int]:
    """(group for ep_moe, group index, rank in the group): ranks [g*W, (g+1)*W) form group g."""
    rank = dist.get_rank()
    return _subgroup(W), rank // W, rank % W


@functools.cache
def _subgroup(W: int) -> object | None:
    # Collective: every rank creates the subgroups, in the same order (each runs the same cases).
    return None if W == dist.get_world_size() else dist.new_subgroups(group_size=W)[0]


@functools.cache
def _impl(spec: str) -> CheckedImpl:
    """The implementation under test, loaded once per rank process, called through the grader's
    checked calls (inputs unchanged, fresh output tensors)."""
    problem = get_problem(SLUG)
    return CheckedImpl(
        load(problem, resolve(problem, spec)), problem.entry + problem.optional, spec
    )
