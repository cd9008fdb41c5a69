"""paged_attention's bound for an inexact peer (PagedAttentionHooks.relaxed, what `dojo bench
--peers` times and marks inexact): attention with the weights p rounded to the inputs' half
type before p @ V, as SDPA computes it, is inside; the wrong variants' bugs are not."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.hooks import hooks_for
from grader.perf.bench import INEXACT_FACTOR
from grader.problem.registry import get_problem
from reference import paged_attention as ref

HOOKS = hooks_for(get_problem("paged_attention"))
LENIENT = HOOKS.relaxed(INEXACT_FACTOR)


def attention(x: dict, round_p: bool = True, heads: str = "div", tail: bool = False):
    """Per sequence: scores in fp32, p = exp(s - max) rounded to q's dtype for p @ V (SDPA's
    rounding) or not; heads "mod" maps query head h to KV head h % Hkv (a wrong variant's
    bug); tail reads the last page whole (another's)."""
    q, kc, vc = x["q"], x["k_cache"], x["v_cache"]
    B, Hq, D = q.shape
    Hkv, S = kc.shape[2], kc.shape[1]
    kv = torch.arange(Hq) // (Hq // Hkv) if heads == "div" else torch.arange(Hq) % Hkv  # (Hq,)
    out = torch.empty_like(q)  # (B, Hq, D)
    for b in range(B):
        n = int(x["seq_lens"][b])
        n = -(-n // S) * S if tail else n
        k = ref.gather(kc, x["block_tables"][b], n).float()[:, kv]  # (n, Hq, D)
        v = ref.gather(vc, x["block_tables"][b], n).float()[:, kv]
        s = torch.einsum("hd,nhd->hn", q[b].float(), k) * x["scale"]  # (Hq, n)
        p = torch.exp(s - s.amax(dim=-1, keepdim=True))  # (Hq, n)
        pv = p.to(q.dtype).float() if round_p else p
        out[b] = (torch.einsum("hn,nhd->hd", pv, v) / p.sum(-1, keepdim=True)).to(q.dtype)
    return out


def inputs(seed: int, dtype: str, group: int, lens: list[int], S: int, values: str) -> dict:
    case = {"B": len(lens), "Hkv": 2, "group": group, "D": 64, "S": S, "lens": lens,
            "dtype": dtype, "values": values}  # fmt: skip
    return ref.make_inputs(case, torch.Generator().manual_seed(seed))


CASES = dict(
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from(["bfloat16", "float16"]),
    group=st.sampled_from([1, 4]),
    lens=st.lists(st.integers(1, 300), min_size=1, max_size=3),
    S=st.sampled_from([1, 16]),
    values=st.sampled_from(["normal", "wide", "large"]),
)


@given(**CASES)
def test_attention_with_weights_rounded_to_the_half_type_is_inexact_not_wrong(
    seed, dtype, group, lens, S, values
):
    x = inputs(seed, dtype, group, lens, S, values)
    LENIENT.compare(attention(x), ref.paged_decode_attention(**x), x)


def test_rounded_weights_are_outside_the_problems_own_tolerance():
    """The bound is needed: at the problem's tolerance the rounded-p attention is wrong."""
    x = inputs(0, "bfloat16", 4, [2000, 1500], 16, "normal")
    with pytest.raises(AssertionError, match="differ"):
        HOOKS.compare(attention(x), ref.paged_decode_attention(**x), x)


@given(**{**CASES, "group": st.just(4)})
def test_the_gqa_mapping_bug_stays_wrong_under_the_bound(seed, dtype, group, lens, S, values):
    x = inputs(seed, dtype, group, lens, S, values)
    with pytest.raises(AssertionError):
        LENIENT.compare(attention(x, heads="mod"), ref.paged_decode_attention(**x), x)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reading_a_pages_tail_stays_wrong_under_the_bound(seed, dtype):
    """5, 11 and 2 garbage keys beside 11, 37 and 130 real ones at unit-scale scores: they
    carry a share of the weight (where one key dominates, as with "large" scores, the bug may
    not show in the output at all, and no check can see it)."""
    x = inputs(seed, dtype, 4, [11, 37, 130], 16, "normal")
    with pytest.raises(AssertionError):
        LENIENT.compare(attention(x, tail=True), ref.paged_decode_attention(**x), x)
