"""Tests for ep_all_to_all: every case runs on 4 gloo ranks on the CPU (one group of W = 4, or
two groups of W = 2, or four of W = 1). The ranks run the implementation and nothing else: every
expert_fn call is answered by this process (the harness), which sees on which rank each expert
runs and on which rows, and compares each rank's output with the single-process MoE itself. The
4 processes start once per module (grader.runtime.ranks.Ranks): a case costs milliseconds."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.distributed as dist
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.compare import assert_close, assert_equal
from grader.harness.strategies import SEEDS, cases, fixed_cases
from grader.problem.impls import load, resolve
from grader.problem.registry import get_problem
from grader.runtime.rank_worker import ask_parent
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


def _run(ranks: Ranks, spec: str, case: dict, seed: int = 0, owners: bool = True) -> None:
    """The case on every rank, experts served here; then each rank's output against the
    single-process MoE and (owners=True) the owner check. A dead or hung rank is a failure."""
    calls: list[tuple[int, int, torch.Tensor]] = []  # (global rank, expert, rows), as asked
    table = _expert_table(case["L"] * case["W"], case["H"], seed)

    def expert(rank: int, e: object, rows: object) -> torch.Tensor:
        if type(e) is not int or type(rows) is not torch.Tensor or rows.dim() != 2:
            raise TypeError(f"expert_fn(e: int, rows: 2-D Tensor), got ({e!r}, {type(rows)})")
        calls.append((rank, e, rows.clone()))
        return _expert(table, e, rows)

    try:
        outs = ranks.run(
            _rank_case,
            spec,
            case,
            seed,
            what=f"{_case_id(case)} (seed {seed})",
            serve={"expert": expert},
        )
    except (RanksTimedOut, RankDied) as e:
        pytest.fail(str(e), pytrace=False)
    for rank, got in enumerate(outs):
        inputs = _inputs(case, seed, rank)
        want = ref.ep_moe(**inputs, expert_fn=functools.partial(_expert, table))
        where = f"{_case_id(case)}, seed {seed}, rank {rank}"
        assert_close(got, want, get_problem(SLUG).tol(case["dtype"]), name=f"output of {where}")
    if owners:
        _check_owners(calls, case, seed)


def _check_owners(calls: list, case: dict, seed: int) -> None:
    """Every expert ran only on the rank that owns it (rank r of a W-rank group owns experts
    [r*L, (r+1)*L)), on exactly the rows its group routed to it (as a multiset)."""
    W, L = case["W"], case["L"]
    for rank, e, _ in calls:
        assert e // L == rank % W, (
            f"{_case_id(case)}: expert {e} ran on rank {rank % W} of its {W}-rank group; it "
            f"belongs to rank {e // L} (rank r owns experts [r*E/W, (r+1)*E/W), E={W * L}): "
            "rows must be sent to the owner"
        )
    for g in range(WORLD // W):
        for e in range(W * L):
            got = [rows for rank, x, rows in calls if x == e and rank // W == g]
            want = [_routed_rows(_inputs(case, seed, g * W + r), e) for r in range(W)]
            _same_rows(got, want, f"{_case_id(case)}: expert {e} of group {g}")


def _routed_rows(inputs: dict, e: int) -> torch.Tensor:
    hit = inputs["ids"] == e  # (T, k)
    return inputs["x"][hit.nonzero()[:, 0]]  # (n, H) one row per slot routed to e


def _same_rows(got: list, want: list, what: str) -> None:
    """The same rows, in any order and split over any number of calls."""
    key = lambda rows: sorted(map(tuple, rows.float().tolist()))  # noqa: E731
    g = key(torch.cat(got)) if got else []
    w = key(torch.cat(want)) if want else []
    assert len(g) == len(w), (
        f"{what} processed {len(g)} rows, but {len(w)} slots were routed to it "
        "(rows lost or sent twice)"
    )
    assert g == w, f"{what} got rows that were not routed to it"


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=_case_id)
def test_matches_single_process_moe_on_fixed_cases(ranks, impl_spec, case):
    _run(ranks, impl_spec, case, owners=False)


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=_case_id)
def test_each_expert_runs_only_on_its_owning_rank(ranks, impl_spec, impl_ref, case):
    if impl_ref.kind == "reference":
        pytest.skip("the reference runs every expert locally, by design")
    _run(ranks, impl_spec, case)


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
    _run(ranks, impl_spec, case, seed, owners=impl_ref.kind != "reference")


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


def _rank_case(spec: str, case: dict, seed: int) -> torch.Tensor:
    """This rank's share of a case: its tokens through the implementation's ep_moe in its W-rank
    group, every expert_fn call asked of the harness. Returns the output; checks nothing."""
    group, _, _ = _my_group(case["W"])
    inputs = _inputs(case, seed, dist.get_rank())
    extra = {} if group is None else {"group": group}  # W = 4 also exercises the default group
    return _module(spec).ep_moe(**inputs, expert_fn=_ask_harness, **extra)


def _ask_harness(e: int, rows: torch.Tensor) -> torch.Tensor:
    return ask_parent("expert", e, rows)


def _inputs(case: dict, seed: int, rank: int) -> dict:
    """The tokens of global rank `rank` (group g = rank // W, rank r = rank % W in it)."""
    W, E = case["W"], case["L"] * case["W"]
    g, r = divmod(rank, W)
    one = {
        "T": case["tokens"][r],
        "H": case["H"],
        "E": E,
        "W": W,
        "k": case["k"],
        "routing": case["routing"],
        "dtype": case["dtype"],
    }
    return ref.make_inputs(one, torch.Generator().manual_seed(seed * 1009 + g * 31 + r))


def _expert(table: tuple[torch.Tensor, torch.Tensor], e: int, rows: torch.Tensor) -> torch.Tensor:
    """Expert e: an elementwise affine map with signed per-expert scales (so weighted sums
    cancel), computed in fp32 and rounded to the rows' dtype."""
    scale, bias = table
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
def _module(spec: str):
    """The implementation, imported once per rank process (the ranks run it; they judge
    nothing: the harness does)."""
    problem = get_problem(SLUG)
    return load(problem, resolve(problem, spec))
