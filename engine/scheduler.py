"""Continuous batching: each step, running requests first (one token per decode, the next chunk
of a prefill), then up to k draft tokens per decode under speculation (all within the token
budget), then waiting requests in arrival order while the token budget, the sequence cap and
the KV pages last. When pages run out, the newest running request is preempted: its pages are
released (full ones into the prefix cache) and it is recomputed later from its tokens.
The oldest request is never the one preempted for a newer one, so every request finishes."""

from __future__ import annotations

import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.kv_cache import PageTable
from engine.sampler import SamplingParams


@dataclass(eq=False)
class Sequence:
    tokens: list[int]  # prompt then generated tokens
    params: SamplingParams
    prompt_len: int = 0
    id: int = -1  # given by the scheduler when the request is added
    num_computed: int = 0  # tokens whose K/V is in the pool
    pages: list[int] = field(default_factory=list)
    shared: int = 0  # pages[:shared] belong to the prefix cache
    node: Any = None  # the locked radix node of the matched prefix
    finish_reason: str | None = None
    preemptions: int = 0
    seed: int = 0  # the sampler's noise key: params.seed, or drawn at random
    text: str | None = None  # set when a stop string ended the output
    logprobs: list = field(default_factory=list)  # per token: (logprob, {id: logprob})

    def __post_init__(self) -> None:
        self.prompt_len = self.prompt_len or len(self.tokens)
        seed = self.params.seed
        self.seed = random.getrandbits(63) if seed is None else seed % 2**63

    @property
    def output(self) -> list[int]:
        return self.tokens[self.prompt_len :]


class Scheduler:
    def __init__(
        self,
        pages: PageTable,
        max_num_seqs: int,
        max_num_batched_tokens: int,
        max_model_len: int,
        eos_token_ids: tuple[int, ...] = (),
    ) -> None:
        self.pages, self.max_seqs, self.budget = pages, max_num_seqs, max_num_batched_tokens
        self.max_model_len, self.eos = max_model_len, set(eos_token_ids)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.preemptions = 0
        self._ids = itertools.count()
        self.cached_tokens = 0  # prompt tokens admitted with their K/V from the prefix cache
        self.lookahead = 0  # speculation's drafts per decoding sequence (k), set by the LLM
        self.drafts: dict[int, int] = {}  # this step's: sequence id -> drafts it may verify

    def add(self, seq: Sequence) -> None:
        seq.id = next(self._ids)
        self.waiting.append(seq)

    def done(self) -> bool:
        return not self.waiting and not self.running

    def schedule(self) -> list[tuple[Sequence, int]]:
        """This step's work: (sequence, number of its tokens to compute)."""
        batch, budget, preempted = [], self.budget, False
        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            n = min(len(seq.tokens) - seq.num_computed, budget)
            while not self.pages.allocate(seq, n):
                preempted = True
                self._preempt(self.running.pop())  # the newest; maybe seq itself
                if self.running[i : i + 1] != [seq]:
                    break
            else:
                batch.append((seq, n))
                budget -= n
                i += 1
        self.drafts = {}  # every running sequence has its token: then the drafts, in order
        for seq, n in batch if self.lookahead else ():
            k = min(self._room(seq), budget)
            if n == 1 and seq.num_computed + 1 == len(seq.tokens) and k > 0:
                self.drafts[seq.id] = k
                budget -= k
        while not preempted and self.waiting and budget > 0 and len(self.running) < self.max_seqs:
            seq = self.waiting[0]
            self.pages.match(seq)
            n = min(len(seq.tokens) - seq.num_computed, budget)
            if not self.pages.allocate(seq, n):
                self.pages.release(seq)
                break
            self.running.append(self.waiting.popleft())
            self.cached_tokens += seq.num_computed
            batch.append((seq, n))
            budget -= n
        return batch

    def _room(self, seq: Sequence) -> int:
        """Drafts seq may verify: none with log-probs (the plain path gives them), and one
        token of its room left for the token verify adds."""
        room = min(seq.params.max_tokens - len(seq.output), self.max_model_len - len(seq.tokens))
        return 0 if seq.params.logprobs is not None else max(min(self.lookahead, room - 1), 0)

    def _preempt(self, seq: Sequence) -> None:
        self.pages.release(seq)
        seq.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(seq)

    def update(self, batch: list[tuple[Sequence, int]], sampled: list[int]) -> list[Sequence]:
        """Advance the batch by its computed tokens; `sampled` holds a token for each sequence
        whose chunk reached its end, in batch order. Returns the sequences that finished."""
        finished, tokens = [], iter(sampled)
        for seq, n in batch:
            seq.num_computed += n
            if seq.num_computed < len(seq.tokens):
                continue  # a prefill chunk short of the prompt's end: nothing sampled
            seq.tokens.append(next(tokens))
            reason = self._stop_reason(seq)
            if reason:
                self.finish(seq, reason)
                finished.append(seq)
        return finished

    def extend(self, seq: Sequence, tokens: list[int], num_computed: int) -> bool:
        """Append a speculative step's tokens up to the first stop; num_computed: tokens whose
        K/V is in the pool, the last token never counted, as in plain decoding (pages past
        them are freed). True when the sequence finished."""
        reason = None
        for t in tokens:
            seq.tokens.append(t)
            reason = self._stop_reason(seq)
            if reason:
                break
        seq.num_computed = min(num_computed, len(seq.tokens) - 1)
        if reason:
            self.finish(seq, reason)
        else:
            self.pages.truncate(seq)
        return reason is not None

    def _stop_reason(self, seq: Sequence) -> str | None:
        p, last = seq.params, seq.tokens[-1]
        if last in p.stop_token_ids or (not p.ignore_eos and last in self.eos):
            return "stop"
        if len(seq.output) >= p.max_tokens or len(seq.tokens) >= self.max_model_len:
            return "length"
        return None

    def finish(self, seq: Sequence, reason: str) -> None:
        seq.finish_reason = reason
        self.pages.release(seq)
        self.running.remove(seq)

    def abort(self, seq: Sequence) -> None:
        """Finish seq with reason "abort" wherever it is; a waiting one holds no pages."""
        if seq in self.waiting:
            self.waiting.remove(seq)
            seq.finish_reason = "abort"
        elif seq in self.running:
            self.finish(seq, "abort")
