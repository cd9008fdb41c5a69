"""Speculative decoding: greedy tokens identical to plain decoding for every proposer (prefix
cache on, concurrent sequences, stops inside an accepted run, a pool small enough to preempt),
sampling that keeps the target's distribution (a chi-square test that also catches a known
wrong verify), and KV rollback that leaves the pool exactly as plain decoding would."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine import LLM, SamplingParams
from engine.spec import ngram_lookup
from tests.engine.test_state_machines import check_pages
from tests.engine.tiny import make_model

PROMPTS = [
    [5, 6, 7, 8, 5, 6, 7, 8, 5, 6],  # repetitive: n-gram drafts get accepted
    [5, 6, 7, 8, 9, 10, 11],  # shares a page with the first
    list(range(20, 40)),
    [3, 3, 3, 3, 3],
    [40, 41, 42, 40, 41],
]
SMALL = dict(block_size=4, dtype="float32", max_num_seqs=4)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> tuple:
    """A target whose greedy outputs vary (larger weights than the default tiny models, which
    repeat one token), and a one-layer draft of the same vocabulary and seed: it shares the
    target's embeddings and first layer, so some of its drafts are accepted."""
    root, varied = tmp_path_factory.mktemp("spec"), dict(initializer_range=0.2)
    target = make_model(root / "target", "llama", **varied)
    return target, make_model(root / "draft", "llama", num_hidden_layers=1, **varied)


def speculative_kinds(draft_dir) -> dict[str, dict]:
    return {
        "ngram": {"ngram": 2, "num_tokens": 3},
        "draft": {"draft": str(draft_dir), "num_tokens": 4},
        "self_draft": {"layers": 1, "num_tokens": 2},
    }


def outputs(llm: LLM, prompts, params) -> list[list[int]]:
    return [o.outputs[0].token_ids for o in llm.generate(prompts, params, use_tqdm=False)]


@pytest.fixture(scope="module")
def plain(dirs):
    """Plain greedy outputs, and stop tokens that end some outputs midway."""
    llm = LLM(str(dirs[0]), **SMALL)
    free = outputs(llm, PROMPTS, SamplingParams(temperature=0, max_tokens=20, ignore_eos=True))
    stops = (free[2][6], free[4][9])
    params = [SamplingParams(temperature=0, max_tokens=20, stop_token_ids=stops)] * 3
    params += [SamplingParams(temperature=0, max_tokens=20, ignore_eos=True)] * 2
    return params, outputs(llm, PROMPTS, params)


@pytest.mark.parametrize(  # a pool of 48 tokens preempts sequences (and frees their draft rows)
    "kind, pool", [("ngram", None), ("draft", None), ("self_draft", 48), ("ngram", 48)]
)
def test_greedy_speculation_gives_the_plain_tokens(dirs, plain, kind, pool):
    params, want = plain
    spec = speculative_kinds(dirs[1])[kind]
    llm = LLM(str(dirs[0]), **SMALL, kv_cache_tokens=pool, speculative=spec)
    for attempt in ("cold", "prefix cache warm"):
        got = outputs(llm, PROMPTS, params)
        for i, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"{kind}, {attempt}: prompt {i} gave {g}, plain decoding {w}"
    stats = llm.spec.stats()
    assert 0 < stats["accepted"] < stats["proposed"], (
        f"accepting and rejecting not both run: {stats}"
    )
    assert 1 < stats["tokens_per_step"] <= spec["num_tokens"] + 1, stats
    if pool:
        assert llm.scheduler.preemptions > 0, "the small pool never preempted: enlarge PROMPTS"


@example(picks=[0, 1, 2, 3, 4], k=4, seqs=4, spare=3, max_tokens=8, kind="ngram")  # tight
@example(picks=[0, 2, 3], k=3, seqs=3, spare=5, max_tokens=8, kind="self_draft")
@settings(max_examples=10, deadline=None)
@given(picks=st.lists(st.integers(0, len(PROMPTS) - 1), min_size=1, max_size=4, unique=True),
       k=st.integers(1, 5), seqs=st.integers(1, 4), spare=st.integers(0, 16),
       max_tokens=st.integers(1, 8), kind=st.sampled_from(["ngram", "self_draft"]))  # fmt: skip
def test_speculation_keeps_to_the_token_budget(
    dirs, plain, picks, k, seqs, spare, max_tokens, kind
):
    """No step runs more target tokens than max_num_batched_tokens, the k+1 a verify scores
    included, whatever the batch, k and budget; the tokens stay plain decoding's."""
    params, want = plain
    budget, spec = seqs + spare, {**speculative_kinds(dirs[1])[kind], "num_tokens": k}
    knobs = dict(SMALL, max_num_seqs=seqs, max_num_batched_tokens=budget)
    llm, ran = LLM(str(dirs[0]), **knobs, speculative=spec), [0]
    forward = llm.runner.forward

    def counted(chunks):  # every target forward: plain chunks and verify rows alike
        ran[-1] += sum(len(c.tokens) for c in chunks)
        return forward(chunks)

    llm.runner.forward = counted
    seqs_ = [llm.add_request(PROMPTS[i], replace(params[i], max_tokens=max_tokens)) for i in picks]
    while not llm.scheduler.done():
        llm.step()
        assert ran[-1] <= budget, f"a step ran {ran[-1]} tokens, over the budget of {budget}"
        ran.append(0)
    assert [s.output for s in seqs_] == [want[i][:max_tokens] for i in picks]
    if spare and max_tokens > 2 and kind == "self_draft":  # a decode step has room for a draft
        assert llm.spec.stats()["proposed"] > 0, "nothing was drafted: the test shows nothing"


def test_wrong_greedy_verify_is_caught(dirs, plain):
    """The same check fails with a known-wrong verify_greedy (off by one), so it has teeth."""
    params, want = plain
    kernels = {"spec_decode": "wrong:greedy_off_by_one"}
    llm = LLM(str(dirs[0]), **SMALL, kernels=kernels, speculative={"ngram": 2, "num_tokens": 3})
    assert outputs(llm, PROMPTS, params) != want


@settings(max_examples=60, deadline=None)
@given(toks=st.lists(st.integers(0, 3), min_size=1, max_size=30), n=st.integers(1, 4),
       k=st.integers(1, 5))  # fmt: skip
def test_ngram_lookup_continues_an_earlier_occurrence(toks, n, k):
    drafts = ngram_lookup(toks, n, k)
    assert len(drafts) <= k
    if not drafts:  # only when the last token has no earlier occurrence
        assert len(toks) == 1 or toks[-1] not in toks[:-1]
        return
    places = [
        (s, i)
        for s in range(1, min(n, len(toks) - 1) + 1)
        for i in range(len(toks) - s)
        if toks[i : i + s] == toks[-s:] and toks[i + s : i + s + len(drafts)] == drafts
    ]
    assert places, f"{drafts} does not follow any earlier occurrence of a tail of {toks}"
    longest = max(s for s in range(1, min(n, len(toks) - 1) + 1) if toks[-s:] in _windows(toks, s))
    assert max(s for s, _ in places) == longest, "a shorter tail was used than could match"


def _windows(toks: list[int], s: int) -> list[list[int]]:
    return [toks[i : i + s] for i in range(len(toks) - s)]


# ---- the target distribution at temperature > 0 ----

V = 8  # a tiny vocabulary: 64 (first, second) token cells
RUNS = 1000
PROMPT = [1, 2, 3, 4, 5]  # 5 tokens, pages of 4: later requests hit 1 page, leaving 1 token


@pytest.fixture(scope="module")
def tiny_vocab(tmp_path_factory):
    root = tmp_path_factory.mktemp("v8")
    peaky = dict(vocab_size=V, initializer_range=0.3)  # distributions far from uniform
    target = make_model(root / "target", "llama", seed=3, **peaky)
    draft = make_model(root / "draft", "llama", seed=4, num_hidden_layers=1, **peaky)
    return target, draft


def exact_joint(path, temperature: float) -> torch.Tensor:
    """p(t1, t2 | PROMPT) (V, V) from transformers' forward: the oracle."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        ids = torch.tensor([PROMPT + [t] for t in range(V)])  # (V, L+1)
        logits = model(ids).logits.double() / temperature  # (V, L+1, V)
    first = torch.softmax(logits[0, -2], -1)  # (V,)
    second = torch.softmax(logits[:, -1], -1)  # (V, V) row t1
    return first[:, None] * second


def chi_square_p(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of Pearson's statistic; cells expecting fewer than 5 are pooled into one."""
    expected = probs.flatten() * counts.sum()
    small = expected < 5
    obs = torch.cat([counts.flatten()[~small], counts.flatten()[small].sum()[None]])
    exp = torch.cat([expected[~small], expected[small].sum()[None]])
    obs, exp = (obs, exp) if exp[-1] > 0 else (obs[:-1], exp[:-1])
    stat = ((obs - exp) ** 2 / exp).sum()
    dof = len(exp) - 1
    return float(torch.special.gammaincc(torch.tensor(dof / 2.0), stat / 2))


def joint_counts(path, spec, kernels="auto") -> torch.Tensor:
    llm = LLM(str(path), **{**SMALL, "max_num_seqs": 256}, kernels=kernels, speculative=spec)
    params = [
        SamplingParams(temperature=0.8, seed=i, max_tokens=3, ignore_eos=True) for i in range(RUNS)
    ]
    counts = torch.zeros(V, V, dtype=torch.float64)
    for out in outputs(llm, [PROMPT] * RUNS, params):
        counts[out[0], out[1]] += 1
    assert llm.spec.stats()["steps"] > RUNS / 2, "most first tokens should come from verify"
    return counts


@pytest.mark.parametrize("kind", ["draft", "ngram"])
def test_speculative_sampling_keeps_the_target_distribution(tiny_vocab, kind):
    """Pearson chi-square on the first two tokens of 1000 seeded runs against transformers'
    exact p(t1, t2). The false-alarm rate of a correct engine is alpha = 1e-3 per proposer
    (the runs are seeded, so the outcome is fixed; a new seed set fails 1 time in 1000)."""
    target, draft = tiny_vocab
    spec = {"draft": str(draft), "num_tokens": 3} if kind == "draft" else {"ngram": 1}
    p = chi_square_p(joint_counts(target, spec), exact_joint(target, 0.8))
    assert p > 1e-3, f"{kind}: chi-square p = {p:.2e}: tokens do not follow the target"


def test_the_chi_square_test_catches_resampling_from_the_target(tiny_vocab):
    """A verify that resamples rejected drafts from p instead of max(0, p - q) fails it."""
    target, draft = tiny_vocab
    wrong = {"spec_decode": "wrong:resample_from_target"}
    counts = joint_counts(target, {"draft": str(draft), "num_tokens": 3}, kernels=wrong)
    assert chi_square_p(counts, exact_joint(target, 0.8)) < 1e-3


# ---- KV rollback ----


def cached_prefixes(table) -> set[tuple[int, ...]]:
    """Every token prefix the radix tree holds a page for."""
    out, stack = set(), [(table.tree.root, ())]
    while stack:
        node, prefix = stack.pop()
        for page in node.key:
            prefix = prefix + tuple(page)
            out.add(prefix)
        stack += [(child, prefix) for child in node.children.values()]
    return out


@pytest.mark.parametrize("kind", ["ngram", "self_draft"])
def test_rejected_drafts_leave_the_pool_as_plain_decoding_would(dirs, kind):
    """After every step each sequence holds exactly the pages of its accepted tokens, pages
    are conserved in both pools; at the end the prefix cache and free list equal a plain run's."""
    spec = speculative_kinds(dirs[1])[kind]
    params = SamplingParams(temperature=0, max_tokens=16, ignore_eos=True)
    base = LLM(str(dirs[0]), **SMALL)
    llm = LLM(str(dirs[0]), **SMALL, speculative=spec)
    seqs = {}
    for engine in (base, llm):
        seqs[engine] = [engine.add_request(p, params) for p in PROMPTS]
        while not engine.scheduler.done():
            engine.step()
            if engine is llm:
                check_rollback(llm)
    assert [s.output for s in seqs[llm]] == [s.output for s in seqs[base]]
    assert llm.spec.stats()["accepted"] < llm.spec.stats()["proposed"], "nothing was rejected"
    assert cached_prefixes(llm.pages) == cached_prefixes(base.pages)
    assert len(llm.pages.free) == len(base.pages.free)


def check_rollback(llm: LLM) -> None:
    S, running = llm.config.block_size, llm.scheduler.running
    check_pages(llm.pages, running)
    for seq in running:
        assert seq.num_computed == len(seq.tokens) - 1, "a decoding sequence lost or gained K/V"
        assert len(seq.pages) == max(-(-seq.num_computed // S), seq.shared), (
            f"{len(seq.pages)} pages for {seq.num_computed} accepted tokens"
        )
    proposer = llm.spec.proposer
    if proposer:
        rows = list(proposer.rows.values())
        held = [p for r in rows for p in r.pages]
        assert len(held) + len(proposer.table.free) == proposer.table.total
        assert len(set(held)) == len(held), "a draft page is held twice"
        by_id = {s.id: s for s in running}
        for r in rows:
            assert len(r.pages) == -(-r.num_computed // S)
            assert r.tokens[: r.num_computed] == by_id[r.id].tokens[: r.num_computed]


def test_engine_check_runs_spec_decode_under_speculation(tiny_dirs):
    """`dojo engine check` turns n-gram speculation on for spec_decode, so a wrong
    verify_greedy diverges instead of passing uncalled (a stub's not_attempted comes from
    the same call path: test_cli_engine's check of the stubs)."""
    from grader.engine_tools.check import check_kernels

    kernels = "spec_decode=wrong:greedy_off_by_one"
    (report,) = check_kernels(str(tiny_dirs["qwen3"]), kernels, max_tokens=8)
    assert (report.op, report.verdict) == ("spec_decode", "diverged"), report


def test_engine_check_says_an_op_the_model_never_called_was_not_exercised(tiny_dirs, monkeypatch):
    """Without speculation nothing calls verify_greedy: the report says so, not "ok"."""
    from grader.engine_tools import check

    monkeypatch.setitem(check.EXERCISE, "spec_decode", {})
    kernels = "spec_decode=wrong:greedy_off_by_one"
    (report,) = check.check_kernels(str(tiny_dirs["qwen3"]), kernels, max_tokens=4)
    assert (report.op, report.verdict) == ("spec_decode", "not_exercised"), report
    assert "never called" in report.message
