"""Speculative decoding: a proposer drafts k tokens per decoding sequence, the target scores
the k+1 positions in one forward (a short prefill chunk), and spec_decode's verify /
verify_greedy keep the accepted drafts plus one token. Proposers: n-gram prompt lookup (q is
one-hot), a draft model of the same vocabulary, or the target's first L layers (the model over
a pool of L layers). Drafts enter seq.tokens and num_computed only once accepted and the pages
past them are freed, so the radix cache never sees a rejected token. Draft tokens and verify
uniforms draw from hash(seed ^ salt, output length), like the sampler's noise."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from engine.config import ModelError
from engine.kv_cache import KVPool, PageTable
from engine.runner import ModelRunner
from engine.sampler import exponential_noise

DRAFT_SALT, VERIFY_SALT = 0x5BD1E995, 0x27D4EB2F  # other noise streams than plain sampling


def load_draft(spec: dict | None, model, kernels, dtype, device, limit: int) -> tuple:
    """(draft model, its layers): a model of the same vocabulary, or the target itself for a
    self-draft of its first L layers; (None, 0) for n-gram lookup or no speculation."""
    layers, L = (spec or {}).get("layers"), model.cfg.num_layers
    if layers is not None and layers >= L:
        raise ModelError(f"speculative layers={layers} must be below the model's {L} layers")
    if not spec or "draft" not in spec:
        return (model, layers) if layers else (None, 0)
    from engine.models.loader import load_model

    draft, cfg = load_model(Path(spec["draft"]).expanduser(), kernels, dtype, device, limit)
    if cfg.vocab_size != model.cfg.vocab_size:
        raise ModelError(f"the draft's vocabulary ({cfg.vocab_size}) is not the model's")
    return draft, cfg.num_layers


def ngram_lookup(toks: list[int], n: int, k: int) -> list[int]:
    """Up to k tokens after the latest earlier occurrence of the longest tail (n tokens down
    to 1) that has k tokens after it, or else after the latest occurrence."""
    for size in range(min(n, len(toks) - 1), 0, -1):
        ends = [i + size for i in range(len(toks) - size) if toks[i : i + size] == toks[-size:]]
        if ends:
            at = ([e for e in ends if e + k <= len(toks)] or ends)[-1]
            return toks[at : at + k]
    return []


def _row(sid: int, tokens=(), num_computed: int = 0, pages=()) -> SimpleNamespace:
    """A sequence as a runner and a page table see it: for the draft, its tokens plus drafts so
    far; for the verifying forward, the target's tokens plus all drafts (seq untouched)."""
    return SimpleNamespace(id=sid, tokens=list(tokens), num_computed=num_computed,
                           pages=list(pages), shared=0, node=None)  # fmt: skip


class ModelProposer:
    """Drafts with a model over its own KV pool (pages as many as the target's)."""

    def __init__(self, model, layers: int, pages: int, llm) -> None:
        c, S, device = model.cfg, llm.config.block_size, llm.config.torch_device()
        dt = model.lm_head.weight.dtype
        self.pool = KVPool(layers, pages, S, c.num_kv_heads, c.head_dim, dt, device)
        self.table = PageTable(pages, S, None)
        self.runner = ModelRunner(model, self.pool, llm.runner.sampler, S, device)
        self.rows: dict[int, SimpleNamespace] = {}

    def propose(self, seqs, ks, sampler) -> tuple[list[list[int]], list]:
        """k_i drafts of each sequence and the draft's distributions (k_i of (V,)); a
        sequence the draft pool has no pages for gets none (k_i = 0)."""
        rows = [self.rows.setdefault(s.id, _row(s.id)) for s in seqs]
        for i, (seq, row) in enumerate(zip(seqs, rows)):
            row.tokens = list(seq.tokens)
            need = len(row.tokens) - row.num_computed + ks[i] - 1  # the last draft is unread
            if ks[i] and not self.table.allocate(row, need):
                ks[i] = 0
        probs = [[] for _ in seqs]  # the draft's distribution at each draft: (V,) each
        for step in range(max(ks, default=0)):
            live = [j for j, k in enumerate(ks) if k > step]
            batch = [(rows[j], len(rows[j].tokens) - rows[j].num_computed) for j in live]
            hidden, last = self.runner.forward_batch(batch)
            logits = self.runner.model.logits(hidden[[last[rows[j].id] for j in live]])  # (N, V)
            params = [seqs[j].params for j in live]
            p = sampler.probs(logits, params) if any(x.temperature for x in params) else logits
            seeds = [seqs[j].seed ^ DRAFT_SALT for j in live]
            steps = [len(seqs[j].output) + step for j in live]
            toks = sampler.race(p, params, seeds, steps, logits.argmax(dim=-1)).tolist()
            for j, tok, q in zip(live, toks, p):
                rows[j].num_computed = len(rows[j].tokens)
                rows[j].tokens.append(tok)
                probs[j].append(q)
        return [r.tokens[len(s.tokens) :] for s, r in zip(seqs, rows)], probs

    def sync(self, running) -> None:
        """Keep each row's K/V only where its tokens agree with its sequence's (drafts the
        target rejected are stale); free the rows of sequences no longer running."""
        by_id = {s.id: s for s in running}
        for row in list(self.rows.values()):
            seq = by_id.get(row.id)
            if seq is None:
                self.table.release(self.rows.pop(row.id))
                continue
            pairs = enumerate(zip(row.tokens, seq.tokens))
            same = next((i for i, (a, b) in pairs if a != b), len(seq.tokens) - 1)
            row.num_computed = min(row.num_computed, same, len(seq.tokens) - 1)
            self.table.truncate(row)


class Speculator:
    def __init__(self, llm, pages: int) -> None:
        spec, (model, layers) = llm.config.speculative, llm.draft
        self.k, self.ngram = spec.get("num_tokens", 4), spec.get("ngram")
        self.kernels, self.sampler = llm.kernels, llm.runner.sampler
        self.proposer = model and ModelProposer(model, layers, pages, llm)
        self.counts = dict(proposed=0, emitted=0, steps=0, plain_steps=0)

    def stats(self) -> dict:
        """Drafts proposed and accepted; tokens emitted per verifying step of a sequence."""
        c = {**self.counts, "accepted": self.counts["emitted"] - self.counts["steps"]}
        rate = c["accepted"] / c["proposed"] if c["proposed"] else None
        return {**c, "acceptance_rate": rate, "tokens_per_step": c["emitted"] / max(c["steps"], 1)}

    @torch.inference_mode()
    def step(self, llm, batch) -> list:
        """One engine step: drafts for the decoding sequences, then a plain run for the rest
        (prefill chunks and sequences without drafts), then one verifying target forward."""
        decode = [s for s, n in batch if n == 1 and s.num_computed + 1 == len(s.tokens)]
        ks = [llm.scheduler.drafts.get(s.id, 0) for s in decode]  # within the token budget
        if self.proposer:  # its rows were synced at the end of the last step
            drafts, probs = self.proposer.propose(decode, ks, self.sampler)
        else:
            drafts, probs = [ngram_lookup(s.tokens, self.ngram, k) for s, k in zip(decode, ks)], []
        spec = [
            (s, d[:k], q[:k] if q else None)
            for s, d, q, k in zip(decode, drafts, probs or [None] * len(ks), ks)
            if d[:k] and llm.pages.allocate(s, len(d[:k]) + 1)
        ]
        chosen = {id(s) for s, _, _ in spec}
        plain = [(s, n) for s, n in batch if id(s) not in chosen]
        self.counts["plain_steps"] += sum(1 for s in decode if id(s) not in chosen)
        finished = llm.run_batch(plain) if plain else []
        finished += self._verify(llm, spec) if spec else []
        if self.proposer:
            self.proposer.sync(llm.scheduler.running)
        return finished

    def _verify(self, llm, spec) -> list:
        """The target scores each sequence's last token and its k drafts (k+1 queries)."""
        rows = [(_row(s.id, s.tokens + d, s.num_computed, s.pages), len(d) + 1) for s, d, _ in spec]
        hidden, last = llm.runner.forward_batch(rows)  # (T, H)
        idx = [last[s.id] - len(d) + i for s, d, _ in spec for i in range(len(d) + 1)]
        logits = llm.model.logits(hidden[idx]).split([n for _, n in rows])  # (k+1, V) each
        results, finished = self._accept(spec, logits), []
        for s, d, _ in spec:
            emitted, c = results[id(s)], s.num_computed  # K/V below: c + accepted + 1
            llm.scheduler.extend(s, emitted, c + len(emitted))
            llm._hit_stop(s)
            finished += [s] if s.finish_reason else []
            for key, add in (("proposed", len(d)), ("emitted", len(emitted)), ("steps", 1)):
                self.counts[key] += add
        return finished

    def _accept(self, spec, logits) -> dict[int, list[int]]:
        """Emitted tokens per sequence, verified in groups of equal draft length and kind."""
        groups: dict[tuple, list] = {}
        for (s, d, q), lg in zip(spec, logits):
            groups.setdefault((len(d), s.params.temperature == 0), []).append((s, d, q, lg))
        results = {}
        for (_, greedy), group in groups.items():
            lg = torch.stack([g[3] for g in group])  # (B, G+1, V)
            drafts = torch.tensor([g[1] for g in group], device=lg.device)  # (B, G)
            tokens, counts = (
                self.kernels.verify_greedy(drafts, lg)
                if greedy
                else self._sampled(drafts, lg, group)
            )
            for g, t, n in zip(group, tokens.tolist(), counts.tolist()):
                results[id(g[0])] = t[:n]
        return results

    def _sampled(self, drafts, lg, group):
        B, G1, V = lg.shape
        params = [g[0].params for g in group for _ in range(G1)]
        p = self.sampler.probs(lg.reshape(B * G1, V), params).view(B, G1, V)  # (B, G+1, V)
        if group[0][2] is None:  # n-gram: the draft is certain, q is one-hot
            q = F.one_hot(drafts, V).to(p.dtype)  # (B, G, V)
        else:
            q = torch.stack([torch.stack(g[2]) for g in group])  # (B, G, V)
        seeds = torch.tensor([g[0].seed ^ VERIFY_SALT for g in group], device=lg.device)
        steps = torch.tensor([len(g[0].output) for g in group], device=lg.device)
        u = torch.exp(-exponential_noise(seeds, steps, G1)).clamp(max=1 - 2**-24)  # (B, G+1)
        accept_u, sample_u = u[:, :-1].contiguous(), u[:, -1].contiguous()  # (B, G), (B,)
        return self.kernels.verify(drafts, q.float(), p.float(), accept_u, sample_u)
