"""One engine step on the device: lay the scheduled chunks out as a flat token batch (decode
rows first, then prefill chunks), build the attention metadata, run the model, and sample the
sequences whose chunk reached the end of their tokens."""

from __future__ import annotations

import torch

from engine.attention import AttentionMetadata, make_group
from engine.kv_cache import KVPool
from engine.sampler import Sampler
from engine.scheduler import Sequence


class ModelRunner:
    def __init__(self, model, pool: KVPool, sampler: Sampler, page_size: int, device) -> None:
        self.model, self.pool, self.sampler = model, pool, sampler
        self.kv, self.S, self.device = pool.layers(), page_size, device
        self.scale = model.cfg.head_dim**-0.5

    def _metadata(self, ordered: list[tuple[Sequence, int]], n_decode: int) -> AttentionMetadata:
        S, dev, slots = self.S, self.device, []
        for seq, n in ordered:
            c = seq.num_computed
            slots += [seq.pages[p // S] * S + p % S for p in range(c, c + n)]
        groups = []
        for part, offset in ((ordered[:n_decode], 0), (ordered[n_decode:], n_decode)):
            if not part:
                groups.append(None)
                continue
            q_lens = [n for _, n in part]
            ctx = [s.num_computed + n for s, n in part]
            groups.append(make_group(q_lens, ctx, [s.pages for s, _ in part], S, offset, dev))
        slot_mapping = torch.tensor(slots, dtype=torch.int64).to(dev)
        return AttentionMetadata(slot_mapping, groups[0], groups[1], self.scale)

    @torch.inference_mode()
    def forward(self, batch: list[tuple[Sequence, int]]) -> tuple[torch.Tensor, dict[int, int]]:
        """Hidden states (T, H) of the batch's chunks, and the row of each sequence's last
        token in them, by sequence id."""
        ordered = [b for b in batch if b[1] == 1] + [b for b in batch if b[1] != 1]
        n_decode = sum(1 for _, n in batch if n == 1)
        ids, pos, rows, row = [], [], {}, -1
        for seq, n in ordered:
            c = seq.num_computed
            ids += seq.tokens[c : c + n]
            pos += range(c, c + n)
            row += n
            rows[seq.id] = row  # the sequence's last token in this step
        meta = self._metadata(ordered, n_decode)
        ids_t = torch.tensor(ids, dtype=torch.int64).to(self.device)  # (T,)
        pos_t = torch.tensor(pos, dtype=torch.int64).to(self.device)  # (T,)
        return self.model(ids_t, pos_t, self.kv, meta), rows  # (T, H)

    @torch.inference_mode()
    def run(self, batch: list[tuple[Sequence, int]]) -> tuple[list[int], list | None]:
        """Tokens sampled for the sequences of `batch` that reach their end, in batch order,
        and their log-probs when any of them asked."""
        hidden, rows = self.forward(batch)
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
