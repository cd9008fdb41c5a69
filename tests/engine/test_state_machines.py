"""Stateful tests of the KV page table and the scheduler against plain models: pages are
conserved and never shared by two live owners, a locked prefix is never evicted, a cached page
always holds the prefix it is matched for, and every admitted request finishes with the tokens
an unbatched run would give, however it was chunked, batched or preempted."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from engine.kv_cache import PageTable
from engine.sampler import SamplingParams
from engine.scheduler import Scheduler, Sequence
from solutions.radix_tree.python import RadixCache

tokens_st = st.lists(st.integers(0, 2), min_size=1, max_size=24)  # 3 letters: shared prefixes


def tree_pages(table: PageTable) -> list[int]:
    """Every page the radix tree holds, by walking it (no LRU side effects)."""
    if table.tree is None:
        return []
    out, stack = [], [table.tree.root]
    while stack:
        node = stack.pop()
        out += node.value
        stack += node.children.values()
    return out


def check_pages(table: PageTable, live: list) -> None:
    private = [p for r in live for p in r.pages[r.shared :]]
    cached = tree_pages(table)
    everything = list(table.free) + private + cached
    assert len(everything) == table.total, (
        f"free {len(table.free)} + private {len(private)} + cached {len(cached)} != {table.total}"
    )
    assert len(set(everything)) == table.total, "a page is in two places at once"
    held = set(cached)
    for r in live:
        lost = set(r.pages[: r.shared]) - held
        assert not lost, f"pages {sorted(lost)} of a locked prefix were evicted"


class Req:
    def __init__(self, tokens: list[int]) -> None:
        self.tokens, self.pages, self.shared, self.node, self.num_computed = tokens, [], 0, None, 0


class PageTableMachine(RuleBasedStateMachine):
    """The plain model: `content[page]` is the token prefix whose K/V the page holds."""

    live = Bundle("live")

    @initialize(pages=st.integers(4, 24), size=st.sampled_from([1, 2, 4]))
    def setup(self, pages, size):
        self.table = PageTable(pages, size, RadixCache)
        self.S, self.reqs, self.content = size, [], {}

    def _check_match(self, req: Req) -> None:
        for j, page in enumerate(req.pages[: req.shared]):
            want = tuple(req.tokens[: (j + 1) * self.S])
            assert self.content[page] == want, f"page {page} holds {self.content[page]}, not {want}"

    @rule(target=live, tokens=tokens_st)
    def admit(self, tokens):
        req = Req(tokens)
        self.table.match(req)
        self._check_match(req)
        assert req.num_computed < len(tokens), "a match must leave one token to compute"
        self.reqs.append(req)
        return req

    @rule(req=live, data=st.data())
    def compute(self, req, data):
        if req not in self.reqs or req.num_computed == len(req.tokens):
            return
        n = data.draw(st.integers(1, len(req.tokens) - req.num_computed))
        if self.table.allocate(req, n):
            for p in range(req.num_computed, req.num_computed + n):
                if p % self.S == self.S - 1:  # the page is full: record what it holds
                    self.content[req.pages[p // self.S]] = tuple(req.tokens[: p + 1])
            req.num_computed += n

    @rule(req=live, token=st.integers(0, 2))
    def decode(self, req, token):
        if req in self.reqs and req.num_computed == len(req.tokens):
            req.tokens.append(token)

    @rule(req=consumes(live))
    def release(self, req):
        if req in self.reqs:
            self.reqs.remove(req)
            self.table.release(req)
            assert req.pages == [] and req.node is None

    @invariant()
    def conserved(self):
        if hasattr(self, "table"):
            check_pages(self.table, self.reqs)
            assert self.table.evictable() <= self.table.cached()


def fake_next(tokens: list[int]) -> int:
    """The 'model': a deterministic function of the whole sequence, over tokens 0..3."""
    return (sum(t * (i + 1) for i, t in enumerate(tokens)) * 7 + len(tokens)) % 4


class SchedulerMachine(RuleBasedStateMachine):
    """The scheduler driven step by step; the plain model is unbatched greedy generation."""

    @initialize(
        pages=st.integers(8, 40),
        size=st.sampled_from([1, 2, 4]),
        seqs=st.integers(1, 4),
        budget=st.integers(4, 32),
        prefix=st.booleans(),
        lookahead=st.sampled_from([0, 0, 1, 3]),  # speculation's drafts per decode (k)
    )
    def setup(self, pages, size, seqs, budget, prefix, lookahead):
        self.table = PageTable(pages, size, RadixCache if prefix else None)
        self.sched = Scheduler(self.table, seqs, max(budget, seqs), 10_000, eos_token_ids=(3,))
        self.sched.lookahead = lookahead
        self.S, self.budget, self.max_seqs = size, max(budget, seqs), seqs
        self.admitted, self.slot = [], {}  # slot -> token prefix whose K/V it holds

    @rule(prompt=tokens_st, max_tokens=st.integers(1, 8))
    def add(self, prompt, max_tokens):
        if len(prompt) + max_tokens <= self.table.total * self.S:  # what LLM.add_request checks
            seq = Sequence(list(prompt), SamplingParams(temperature=0, max_tokens=max_tokens))
            self.sched.add(seq)
            self.admitted.append(seq)

    @precondition(lambda self: hasattr(self, "sched"))
    @rule()
    def step(self):
        before = {s.id for s in self.sched.running}  # drafts are for these; not new admissions
        batch = self.sched.schedule()
        self._check_drafts(batch, self.sched.drafts, before)
        assert len(self.sched.running) <= self.max_seqs
        assert self.sched.done() or batch, "work is waiting but nothing was scheduled"
        sampled = []
        for seq, n in batch:
            c = seq.num_computed
            for p in range(c):  # every earlier position's K/V is the right prefix
                have = self.slot.get(seq.pages[p // self.S] * self.S + p % self.S)
                assert have == tuple(seq.tokens[: p + 1]), f"seq {seq.id} position {p}"
            for p in range(c, c + n):
                self.slot[seq.pages[p // self.S] * self.S + p % self.S] = tuple(seq.tokens[: p + 1])
            if c + n == len(seq.tokens):
                sampled.append(fake_next(seq.tokens))
        self.sched.update(batch, sampled)

    def _check_drafts(self, batch, drafts: dict, before: set) -> None:
        """The step's tokens, drafts to verify included, fit the budget; drafts go to decodes
        once every running sequence has its token, and the most each may take (k, and one
        below its room) unless the budget ran out."""
        total = sum(n for _, n in batch) + sum(drafts.values())
        assert total <= self.budget, f"{total} tokens (drafts included) over {self.budget}"
        got = {s.id: n for s, n in batch}
        assert not drafts or all(s.id in got for s in self.sched.running), "a draft came first"
        for s, n in batch:
            decoding = n == 1 and s.num_computed + 1 == len(s.tokens) and s.id in before
            room = s.params.max_tokens - len(s.output) - 1
            most = min(self.sched.lookahead, room) if decoding else 0
            assert 0 <= drafts.get(s.id, 0) <= max(most, 0), f"seq {s.id}: {drafts}"
            assert drafts.get(s.id, 0) == max(most, 0) or total == self.budget, "budget left"

    @precondition(lambda self: getattr(self, "admitted", None))
    @rule(data=st.data())
    def abort(self, data):
        """A client goes away: waiting or running, the request ends with "abort"; once finished,
        aborting it changes nothing."""
        seq = data.draw(st.sampled_from(self.admitted))
        before = seq.finish_reason
        self.sched.abort(seq)
        assert seq.finish_reason == (before or "abort") and not seq.pages
        assert seq not in self.sched.running and seq not in self.sched.waiting

    @invariant()
    def conserved(self):
        if hasattr(self, "sched"):
            check_pages(self.table, self.sched.running)

    def teardown(self):
        if not hasattr(self, "sched"):
            return
        for _ in range(2000):
            if self.sched.done():
                break
            self.step()
        assert self.sched.done(), "a request never finished"
        for seq in self.admitted:
            want = list(seq.tokens[: seq.prompt_len])
            while True:
                want.append(fake_next(want))
                if want[-1] == 3 or len(want) - seq.prompt_len == seq.params.max_tokens:
                    break
            got = want[: len(seq.tokens)] if seq.finish_reason == "abort" else want
            assert seq.tokens == got, f"seq {seq.id}: {seq.tokens} vs unbatched {want}"


TestPageTable = PageTableMachine.TestCase
TestScheduler = SchedulerMachine.TestCase
TestPageTable.settings = settings(max_examples=25, stateful_step_count=40, deadline=None)
TestScheduler.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)


@pytest.mark.parametrize("prefix", [True, False])
def test_the_oldest_request_always_progresses_under_pressure(prefix):
    """Two long requests in a pool that holds one at a time: both finish, by preemption."""
    table = PageTable(6, 2, RadixCache if prefix else None)
    sched = Scheduler(table, 2, 64, 10_000)
    seqs = [Sequence([i] * 5, SamplingParams(temperature=0, max_tokens=7)) for i in range(2)]
    for s in seqs:
        sched.add(s)
    for _ in range(200):
        if sched.done():
            break
        batch = sched.schedule()
        sched.update(batch, [0 for s, n in batch if s.num_computed + n == len(s.tokens)])
    assert sched.done() and sched.preemptions > 0
    assert all(len(s.output) == 7 for s in seqs)
