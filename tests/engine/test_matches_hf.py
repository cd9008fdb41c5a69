"""Greedy tokens equal Hugging Face transformers' generate in float32, token for token up to and
including EOS, for every family and every scheduling path: prefix cache on and off, chunked
prefill, and preemption forced by a tiny KV pool."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import LLM, SamplingParams
from tests.engine.conftest import FAMILIES, hf_greedy, set_eos

MAX_NEW = 16
BASE = list(range(10, 42))  # 32 tokens that several prompts share, to exercise the prefix cache
PROMPTS = [
    BASE[:7],
    BASE + [50, 51],
    BASE[:20] + [60],
    [3, 4],
    BASE + [70, 71, 72, 73, 74],
    list(range(100, 140)),
    BASE + [50, 51],
    [200],
]
MODES = {
    "prefix_cache": dict(max_num_seqs=3),
    "no_prefix_cache": dict(enable_prefix_caching=False),
    "chunked_prefill": dict(max_num_batched_tokens=8, max_num_seqs=4),
    "preemption": dict(kv_cache_tokens=64, max_num_seqs=4),
}


def _pick_eos(outputs: list[list[int]]) -> int | None:
    """A token that first appears a few steps into some greedy output: making it EOS stops that
    request early while the others run on."""
    for out in outputs:
        for i in range(3, len(out)):
            if out[i] not in out[:i]:
                return out[i]
    return None


@pytest.fixture(scope="module", params=FAMILIES)
def case(request, tiny_dirs, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"{request.param}_eos") / "model"
    shutil.copytree(tiny_dirs[request.param], path)
    eos = [_pick_eos(hf_greedy(path, PROMPTS, MAX_NEW, [1])) or 1, 1]  # 1: the tokenizer's
    set_eos(path, eos[0])
    expected = hf_greedy(path, PROMPTS, MAX_NEW, eos)
    assert any(out[-1] in eos and len(out) < MAX_NEW for out in expected), "no early EOS"
    return path, expected


def _generate(path, prompts, **kwargs) -> tuple[LLM, list[list[int]], list[str]]:
    llm = LLM(str(path), block_size=4, dtype="float32", **kwargs)
    outs = llm.generate(prompts, SamplingParams(temperature=0, max_tokens=MAX_NEW), use_tqdm=False)
    return llm, [o.outputs[0].token_ids for o in outs], [o.outputs[0].finish_reason for o in outs]


@pytest.mark.parametrize("mode", MODES)
def test_greedy_tokens_equal_hf_generate(case, mode):
    path, expected = case
    llm, got, reasons = _generate(path, PROMPTS, **MODES[mode])
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"{mode}: prompt {i} differs at token {_first_diff(g, e)}: {g} vs HF {e}"
    assert reasons == ["length" if len(e) == MAX_NEW else "stop" for e in expected]
    if mode == "preemption":
        assert llm.scheduler.preemptions > 0, "the tiny pool forced no preemption"
    if mode == "prefix_cache":
        assert llm.scheduler.cached_tokens > 0, "no prompt reused a cached prefix"
        again = llm.generate(PROMPTS, SamplingParams(temperature=0, max_tokens=MAX_NEW), False)
        assert [o.outputs[0].token_ids for o in again] == expected, "second pass (cache hits)"


def _first_diff(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


_HF: dict[tuple[int, ...], list[int]] = {}


@settings(max_examples=6, deadline=None)
@given(
    prompts=st.lists(
        st.lists(st.integers(10, 13), min_size=1, max_size=30), min_size=1, max_size=4
    ),
    block_size=st.sampled_from([1, 2, 4, 16]),
    budget=st.integers(5, 64),
    seqs=st.integers(1, 5),
    pool_pages=st.integers(0, 40),
    prefix=st.booleans(),
)
def test_any_scheduling_gives_hf_tokens(
    llama_dir, prompts, block_size, budget, seqs, pool_pages, prefix
):
    """Prompts over a 4-token alphabet share long prefixes; every knob is drawn at random."""
    new = [p for p in map(tuple, prompts) if p not in _HF]
    if new:
        for p, out in zip(new, hf_greedy(llama_dir, [list(p) for p in new], 8, [1])):
            _HF[p] = out
    need = max(len(p) for p in prompts) + 8
    llm = LLM(
        str(llama_dir),
        dtype="float32",
        block_size=block_size,
        max_num_batched_tokens=max(budget, seqs),
        max_num_seqs=seqs,
        enable_prefix_caching=prefix,
        kv_cache_tokens=(-(-need // block_size) + pool_pages) * block_size,
    )
    outs = llm.generate(prompts, SamplingParams(temperature=0, max_tokens=8), use_tqdm=False)
    assert [o.outputs[0].token_ids for o in outs] == [_HF[tuple(p)] for p in prompts]
