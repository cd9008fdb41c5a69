"""One engine step on the device: lay the scheduled chunks out as a flat token batch (decode
rows first, then prefill chunks), build the attention metadata, run the model, and sample the
sequences whose chunk reached the end of their tokens."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass

import torch

from engine.attention import AttentionMetadata, make_group
from engine.graphs import CaptureFailed
from engine.kv_cache import KVPool
from engine.sampler import Sampler
from engine.scheduler import Sequence


@dataclass(frozen=True, slots=True)
class Chunk:
    """One sequence's tokens in a step: all a rank needs to run the model on them."""

    seq_id: int
    start: int  # tokens of the sequence already in the KV pool
    tokens: list[int]
    pages: list[int]


class ModelRunner:
    def __init__(self, model, pool: KVPool, sampler: Sampler, page_size: int, device) -> None:
        self.model, self.pool, self.sampler = model, pool, sampler
        self.kv, self.S, self.device = pool.layers(), page_size, device
        self.scale = model.cfg.head_dim**-0.5
        self.graphs = None  # engine.graphs.DecodeGraphs: decode steps replayed as CUDA graphs

    def _metadata(self, chunks: list[Chunk], n_decode: int) -> AttentionMetadata:
        S, dev, slots = self.S, self.device, []
        for c in chunks:
            slots += [c.pages[p // S] * S + p % S for p in range(c.start, c.start + len(c.tokens))]
        groups = []
        for part, offset in ((chunks[:n_decode], 0), (chunks[n_decode:], n_decode)):
            if not part:
                groups.append(None)
                continue
            q_lens = [len(c.tokens) for c in part]
            ctx = [c.start + len(c.tokens) for c in part]
            groups.append(make_group(q_lens, ctx, [c.pages for c in part], S, offset, dev))
        slot_mapping = torch.tensor(slots, dtype=torch.int64).to(dev)
        return AttentionMetadata(slot_mapping, groups[0], groups[1], self.scale)

    @torch.inference_mode()
    def forward(self, chunks: list[Chunk]) -> torch.Tensor:
        """Hidden states (T, H) of the chunks' tokens; decode chunks (one token) come first."""
        n_decode = sum(1 for c in chunks if len(c.tokens) == 1)
        if self.graphs is not None and n_decode == len(chunks) and self.graphs.fits(n_decode):
            try:
                return self.graphs.run(chunks)
            except CaptureFailed as e:  # an attempt's kernel may sync with the host: run eagerly
                print(f"note: decoding without CUDA graphs, a step could not be captured: {e}; "
                      "host syncs (.item(), .cpu()) in a kernel's wrapper prevent capture",
                      file=sys.stderr)  # fmt: skip
                self.graphs = None
        ids = [t for c in chunks for t in c.tokens]
        pos = [p for c in chunks for p in range(c.start, c.start + len(c.tokens))]
        meta = self._metadata(chunks, n_decode)
        ids_t = torch.tensor(ids, dtype=torch.int64).to(self.device)  # (T,)
        pos_t = torch.tensor(pos, dtype=torch.int64).to(self.device)  # (T,)
        return self.model(ids_t, pos_t, self.kv, meta)  # (T, H)

    def forward_batch(self, batch: list[tuple[Sequence, int]]) -> tuple[torch.Tensor, dict]:
        """forward over the scheduled (sequence, tokens) pairs: hidden states (T, H), and the
        row of each sequence's last token in them, by sequence id."""
        ordered = [b for b in batch if b[1] == 1] + [b for b in batch if b[1] != 1]
        chunks = [
            Chunk(s.id, s.num_computed, s.tokens[s.num_computed : s.num_computed + n], s.pages)
            for s, n in ordered
        ]
        ends = itertools.accumulate(len(c.tokens) for c in chunks)
        return self.forward(chunks), {c.seq_id: end - 1 for c, end in zip(chunks, ends)}

    @torch.inference_mode()
    def run(self, batch: list[tuple[Sequence, int]]) -> tuple[list[int], list | None]:
        """Tokens sampled for the sequences of `batch` that reach their end, in batch order,
        and their log-probs when any of them asked."""
        hidden, rows = self.forward_batch(batch)  # (T, H)
        ending = [s for s, n in batch if s.num_computed + n == len(s.tokens)]
        if not ending:
            return [], None
        last = torch.tensor([rows[s.id] for s in ending]).to(self.device)  # (N,)
        logits = self.model.logits(hidden[last])  # (N, V)
        params = [s.params for s in ending]
        tokens = self.sampler(
            logits, params, [s.seed for s in ending], [len(s.output) for s in ending]
        )
        if all(p.logprobs is None for p in params):
            return tokens.tolist(), None  # the step's one device-to-host copy
        n = max(p.logprobs or 0 for p in params)
        chosen, top_v, top_i = self.sampler.logprobs(logits, tokens, n)
        lps = [
            (c, dict(zip(i[: p.logprobs or 0], v[: p.logprobs or 0])))
            for c, v, i, p in zip(chosen.tolist(), top_v.tolist(), top_i.tolist(), params)
        ]
        return tokens.tolist(), lps
