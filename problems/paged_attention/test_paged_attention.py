"""Property-based tests for paged_attention, run against any implementation through the `impl`
fixture (`pytest problems/paged_attention --impl attempt`, or `dojo check paged_attention`)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from grader.harness.compare import assert_close
from grader.harness.fixtures import NEEDS_GPU
from grader.harness.strategies import SEEDS, case_id, cases, fixed_cases
from grader.problem.registry import get_problem
from reference import paged_attention as ref

SLUG = "paged_attention"
LONG = get_problem(SLUG).params["long_len"]


@st.composite
def paged_cases(draw, long: bool = False, **overrides):
    """A case from problem.toml's ranges plus one length per sequence: 1, S-1, S, S+1, short
    or (long=True) several hundred to a few thousand keys."""
    case = draw(cases(SLUG, **overrides))
    S = case["S"]
    edge = st.sampled_from(sorted({1, max(S - 1, 1), S, S + 1}))
    length = st.integers(*LONG) if long else st.one_of(edge, st.integers(1, 3 * S + 40))
    case["lens"] = draw(st.lists(length, min_size=case["B"], max_size=case["B"]))
    return case


def check(impl, hooks, args: dict, name: str = "paged_decode_attention") -> torch.Tensor:
    """impl against the reference within the tolerance of q's dtype; returns impl's output."""
    got = impl.paged_decode_attention(**args)
    expected = ref.paged_decode_attention(**args)
    assert_close(got, expected, hooks.tolerance(args), name=name)
    return got


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_matches_reference_on_fixed_cases(hooks, impl, problem, runtime, case):
    runtime.require_trusted(case)
    check(impl, hooks, ref.make_inputs(case, runtime.gen(0)))


@given(case=paged_cases(), seed=SEEDS)
def test_matches_reference_on_random_shapes(hooks, impl, problem, runtime, case, seed):
    assume(runtime.trusted(case))
    check(impl, hooks, ref.make_inputs(case, runtime.gen(seed)))


@given(case=paged_cases(long=True, B=st.integers(1, 2), D=64), seed=SEEDS)
def test_matches_reference_on_sequences_split_across_programs(
    hooks, impl, problem, runtime, case, seed
):
    """Hundreds to thousands of keys: a flash-decoding kernel splits these across programs and
    merges the partial results, which must be rescaled to a common max first."""
    assume(runtime.trusted(case))
    check(impl, hooks, ref.make_inputs(case, runtime.gen(seed)))


def _used_slots(args: dict) -> torch.Tensor:
    """(P, S) True where a slot holds one of the first seq_lens[b] keys of some sequence."""
    P, S = args["k_cache"].shape[:2]
    used = torch.zeros(P * S, dtype=torch.bool, device=args["k_cache"].device)
    for row, n in zip(args["block_tables"].long(), args["seq_lens"].tolist()):
        tok = torch.arange(n, device=used.device)
        used[row[tok // S] * S + tok % S] = True
    return used.view(P, S)


@given(case=paged_cases(dtype=st.sampled_from(["float32", "float16"])), seed=SEEDS)
def test_slots_past_seq_len_are_never_read(hooks, impl, problem, runtime, case, seed):
    """Every slot no sequence owns (the tail of a last page, spare pages) holds NaN, as a freshly
    allocated cache may: a kernel that reads a whole last page returns NaN."""
    args = ref.make_inputs(case, runtime.gen(seed))
    unused = ~_used_slots(args)  # (P, S)
    for name in ("k_cache", "v_cache"):
        args[name] = args[name].clone()
        args[name][unused] = float("nan")
    check(impl, hooks, args, name="output with NaN in every unowned slot")


@given(
    case=paged_cases(D=st.sampled_from([64, 128]), dtype=st.sampled_from(["float32", "float16"])),
    seed=SEEDS,
)
def test_permuting_the_pool_pages_changes_nothing(hooks, impl, problem, runtime, case, seed):
    """Moving page i to perm[i] and rewriting the tables with it is the same cache."""
    args = ref.make_inputs(case, runtime.gen(seed))
    P = args["k_cache"].shape[0]
    perm = torch.randperm(P, generator=runtime.gen(seed + 1), device=runtime.device)  # (P,)
    moved = dict(args, block_tables=perm[args["block_tables"].long()].to(torch.int32))
    for name in ("k_cache", "v_cache"):
        moved[name] = torch.empty_like(args[name])
        moved[name][perm] = args[name]  # (P, S, Hkv, D)
    before = impl.paged_decode_attention(**args)
    after = impl.paged_decode_attention(**moved)
    tol = hooks.tolerance(args)
    assert_close(after, before, tol, name="output after permuting the pool's pages")


@given(
    case=paged_cases(
        B=st.integers(1, 2),
        D=st.sampled_from([64, 128]),
        dtype=st.sampled_from(["float32", "float16"]),
        values="normal",
    ),
    extra=st.integers(1, 40),
    seed=SEEDS,
)
def test_appending_keys_with_neg_inf_like_scores_changes_nothing(
    hooks, impl, problem, runtime, case, seed, extra
):
    """Keys whose scores are about -2e4 get weight exp(-2e4) = 0: appending `extra` of them to
    every sequence (new slots, new pages, new splits) leaves the output as it was."""
    args = ref.make_inputs(case, runtime.gen(seed))
    q = args["q"].clone()
    q[..., 0] = 8.0  # every query head has a positive first component
    gen, dtype, S = runtime.gen(seed + 1), q.dtype, args["k_cache"].shape[1]
    keys, values = [], []
    for row, n in zip(args["block_tables"], args["seq_lens"].tolist()):
        k_new = torch.randn(extra, *args["k_cache"].shape[2:], generator=gen, device=q.device)
        k_new[..., 0] = -30000.0  # score ~ 8 * -30000 * scale: far below exp's range
        v_new = torch.randn(k_new.shape, generator=gen, device=q.device)  # (extra, Hkv, D)
        keys.append(torch.cat([ref.gather(args["k_cache"], row, n), k_new.to(dtype)]))
        values.append(torch.cat([ref.gather(args["v_cache"], row, n), v_new.to(dtype)]))
    k_cache, v_cache, tables = ref.paginate(keys, values, S, gen)
    longer = dict(args, q=q, k_cache=k_cache, v_cache=v_cache, block_tables=tables)
    longer["seq_lens"] = args["seq_lens"] + extra
    before = check(impl, hooks, dict(args, q=q))
    after = impl.paged_decode_attention(**longer)
    tol = hooks.tolerance(dict(args, q=q))  # the new keys add nothing, not even error
    assert_close(after, before, tol, name=f"output after appending {extra} masked-like keys")


@given(
    case=paged_cases(B=st.integers(1, 2), Hkv=2, group=st.integers(2, 3), D=64, dtype="float32"),
    seed=SEEDS,
)
def test_gqa_equals_mha_with_repeated_kv_heads(hooks, impl, problem, runtime, case, seed):
    """Query head h reads KV head h // group: repeating each KV head group times (MHA) must give
    the same output. A kernel that maps h to h % Hkv passes MHA and MQA and fails here."""
    args = ref.make_inputs(case, runtime.gen(seed))
    group = case["group"]
    mha = dict(args)
    for name in ("k_cache", "v_cache"):
        mha[name] = args[name].repeat_interleave(group, dim=2)  # (P, S, Hq, D)
    gqa_out = check(impl, hooks, args, name="GQA output")
    mha_out = impl.paged_decode_attention(**mha)
    tol = hooks.tolerance(args)
    assert_close(gqa_out, mha_out, tol, name="GQA vs MHA with repeated heads")


def _gpu_only(runtime, why: str) -> None:
    if runtime.device != "cuda":
        pytest.skip(f"{NEEDS_GPU}: {why}")


LONG_CONTEXT = [
    {"B": 1, "Hq": 32, "Hkv": 8, "D": 128, "S": 16, "seq_len": 131072, "dtype": "bfloat16"},
    {"B": 3, "Hq": 8, "Hkv": 2, "D": 64, "S": 64, "lens": [1, 65537, 100000], "dtype": "float32"},
    {"B": 2, "Hq": 16, "Hkv": 1, "D": 256, "S": 1, "lens": [70000, 3], "dtype": "float16"},
    {"B": 6, "Hq": 32, "Hkv": 8, "D": 128, "S": 16, "mixed_max_len": 40000, "dtype": "bfloat16"},
]


@pytest.mark.gpu
@pytest.mark.parametrize("case", LONG_CONTEXT, ids=case_id)
def test_matches_reference_at_long_context(hooks, impl, problem, runtime, case):
    """Up to the contract's 131072 keys, many splits per sequence."""
    _gpu_only(runtime, "long contexts are checked on a GPU (minutes in the Triton interpreter)")
    check(impl, hooks, ref.make_inputs(case, runtime.gen(0)))


@pytest.mark.gpu
def test_pools_over_2_to_the_31_elements_need_64_bit_offsets(hooks, impl, problem, runtime):
    """A bf16 pool of 2^17 + 256 pages of (16, 8, 128) holds 2^31 + 2^22 elements (4.3 GB per
    cache); the sequences live in its last pages, where page * page_stride passes 2^31."""
    _gpu_only(runtime, "the pool takes 2 x 4.3 GB (and as much again for the input checks)")
    free, _ = torch.cuda.mem_get_info()
    if free < 24 * 2**30:
        pytest.skip(f"{NEEDS_GPU} with 24 GiB free for a 2 x 4.3 GB pool; {free / 2**30:.0f} free")
    S, Hkv, D, P = 16, 8, 128, 2**31 // (16 * 8 * 128) + 64
    small = {"B": 2, "Hq": 32, "Hkv": Hkv, "D": D, "S": S, "lens": [1000, 777]}
    args = ref.make_inputs({**small, "dtype": "bfloat16"}, runtime.gen(0))
    used = args["k_cache"].shape[0]  # pages of the small pool, moved to the top of the big one
    for name in ("k_cache", "v_cache"):
        big = torch.zeros(P, S, Hkv, D, dtype=torch.bfloat16, device="cuda")  # (P, S, Hkv, D)
        big[P - used :] = args[name]
        args[name] = big
    args["block_tables"] = args["block_tables"] + (P - used)  # every page index >= 2^17
    check(impl, hooks, args, name="output from the top of a 2^31-element pool")
