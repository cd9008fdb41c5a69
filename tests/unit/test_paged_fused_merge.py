"""paged_attention's fused merge (Plan.fuse: the last phase-1 program of each head to finish
merges, an arrival counter names it and resets itself) against the reference, in the Triton
interpreter (on the GPU where there is one): several splits per sequence, calls one after
another on the same counters, and the combine-without-rescaling bug still caught there."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.hooks import hooks_for
from grader.problem.registry import get_problem
from reference import paged_attention as ref
from solutions.paged_attention import _merge
from solutions.paged_attention import triton as sol
from solutions.paged_attention import wrong_combine_without_rescaling as wrong

HOOKS = hooks_for(get_problem("paged_attention"))
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
FUSED = sol.Plan(block_n=16, chunk=32, block_g=16, fuse=True)  # 32 keys a split: many splits


def inputs(seed: int, lens: list[int], group: int, S: int, dtype: str = "float32") -> dict:
    case = {"B": len(lens), "Hkv": 2, "group": group, "D": 32, "S": S, "lens": lens,
            "dtype": dtype, "values": "wide"}  # fmt: skip
    return ref.make_inputs(case, torch.Generator(DEVICE).manual_seed(seed))


@given(
    seed=st.integers(0, 2**16),
    calls=st.lists(
        st.tuples(st.lists(st.integers(1, 200), min_size=1, max_size=3), st.sampled_from([1, 4])),
        min_size=2,
        max_size=3,
    ),
    S=st.sampled_from([1, 16]),
)
def test_fused_merge_matches_the_reference_call_after_call(seed, calls, S):
    """Each call's counters must be back at zero for the next (a stale count merges early)."""
    for i, (lens, group) in enumerate(calls):
        x = inputs(seed + i, lens, group, S)
        got = sol.attend(**x, plan=FUSED)
        HOOKS.compare(got, ref.paged_decode_attention(**x), x)
    locks = _merge._LOCKS.get(got.device)  # absent while no call had two splits
    assert locks is None or int(locks.abs().sum()) == 0, "the arrival counters were not reset"


def test_the_fused_merge_rescales_through_the_split_weight_step():
    """wrong_combine_without_rescaling's step, swapped in, is wrong on the fused path too."""
    x = inputs(3, [150, 97], 4, 16)
    helpers = {"_split_weight": wrong._split_weight}
    bad = sol.attend(**x, helpers=helpers, plan=FUSED)
    want = ref.paged_decode_attention(**x)
    HOOKS.compare(sol.attend(**x, plan=FUSED), want, x)
    assert not torch.allclose(bad.float(), want.float(), rtol=1e-3, atol=1e-3)
