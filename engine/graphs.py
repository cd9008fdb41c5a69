"""CUDA graphs for decode steps, as nano-vllm does: the model's forward over B one-token chunks is
captured once per batch-size bucket on static buffers, then replayed with the step's token ids,
positions, KV slots, page tables and lengths copied in: one replay launches the few hundred
kernels of a small model's step at once. Rows past B pad the bucket: they write their K/V into a
scratch page no sequence owns, attend to its first slot, and are dropped. Needs the paged decode
kernel and a dense model (gather + SDPA and MoE routing have data-dependent shapes). Buckets are
captured when a step first needs them, into one memory pool: replays run one at a time on one
stream, and a step's output is consumed (logits, sampling) before the next replay reuses it."""

from __future__ import annotations

import torch

from engine.attention import AttentionMetadata, Group


class CaptureFailed(RuntimeError):
    """A decode step could not be recorded: str() is CUDA's reason (an op synced with the host)."""


class DecodeGraphs:
    def __init__(self, model, kv, scale: float, page_size: int, max_len: int, max_seqs: int,
                 scratch_page: int, device, graph_type: type) -> None:  # fmt: skip
        self.model, self.kv, self.scale, self.S = model, kv, scale, page_size
        self.scratch, self.width = scratch_page, -(-max_len // page_size)
        small = [b for b in (1, 2, 4, 8) if b < max_seqs]
        self.buckets = sorted({*small, *range(16, max_seqs, 16), max_seqs})
        n, i64 = self.buckets[-1], dict(dtype=torch.int64, device=device)
        self.ids, self.pos, self.slots = (torch.zeros(n, **i64) for _ in range(3))  # (n,) each
        self.rows = torch.arange(n, **i64)[:, None]  # (n, 1) query i is token i of the step
        self.tables = torch.zeros((n, self.width), dtype=torch.int32, device=device)  # (n, W)
        self.lens = torch.ones(n, dtype=torch.int32, device=device)  # (n,)
        self.new_graph, self.mempool = graph_type, graph_type.new_pool()
        self.graphs: dict[int, tuple] = {}  # bucket -> (graph, its static output (b, H))

    def fits(self, batch: int) -> bool:
        return batch <= self.buckets[-1]

    def run(self, chunks) -> torch.Tensor:
        """Hidden states (B, H) of B one-token chunks (runner.Chunk): a view of the bucket's
        static output, valid until the next replay."""
        B = len(chunks)
        b = next(b for b in self.buckets if b >= B)
        self._fill(chunks, b)
        if b not in self.graphs:
            graph = self.new_graph(self.mempool)
            self.graphs[b] = graph, graph.capture(lambda: self._forward(b))
        graph, out = self.graphs[b]
        graph.replay()
        return out[:B]

    def _fill(self, chunks, b: int) -> None:
        S, pad = self.S, b - len(chunks)
        pos = [c.start for c in chunks]
        slots = [c.pages[p // S] * S + p % S for c, p in zip(chunks, pos)]
        tables = torch.full((b, self.width), self.scratch, dtype=torch.int32)  # (b, W)
        for i, c in enumerate(chunks):
            tables[i, : len(c.pages)] = torch.tensor(c.pages, dtype=torch.int32)
        self.ids[:b].copy_(torch.tensor([c.tokens[0] for c in chunks] + [0] * pad))
        self.pos[:b].copy_(torch.tensor(pos + [0] * pad))
        self.slots[:b].copy_(torch.tensor(slots + [self.scratch * S] * pad))
        self.tables[:b].copy_(tables)
        self.lens[:b].copy_(torch.tensor([p + 1 for p in pos] + [1] * pad, dtype=torch.int32))

    def _forward(self, b: int) -> torch.Tensor:
        none = self.rows[:0]  # the kernel path reads no gather slots, mask or output rows
        group = Group(self.rows[:b], none, none, none, self.tables[:b], self.lens[:b])
        meta = AttentionMetadata(self.slots[:b], group, None, self.scale)
        return self.model(self.ids[:b], self.pos[:b], self.kv, meta)  # (b, H)


class CudaGraph:
    """One captured decode step; every bucket's graph allocates from one memory pool."""

    def __init__(self, mempool) -> None:
        self.graph, self.mempool, self.stream = torch.cuda.CUDAGraph(), mempool, torch.cuda.Stream()

    @staticmethod
    def new_pool():
        return torch.cuda.graph_pool_handle()

    def capture(self, forward) -> torch.Tensor:
        """Run forward twice outside the graph on the stream that records it (Triton compiles,
        cuBLAS sets up that stream's workspace; it writes the same K/V the replay will), then
        record it: the output's storage is static."""
        with torch.cuda.stream(self.stream):
            forward(), forward()
        torch.cuda.synchronize()
        try:
            with torch.cuda.graph(self.graph, pool=self.mempool, stream=self.stream):
                return forward()
        except RuntimeError as e:  # .item(), .cpu(), a sync in some op's wrapper: not capturable
            gen = torch.cuda.default_generators[torch.cuda.current_device()]
            gen.graphsafe_set_state(gen.clone_state())  # a failed capture leaves it "capturing"
            raise CaptureFailed(str(e).strip().split("\n")[0] or type(e).__name__) from None

    def replay(self) -> None:
        self.graph.replay()
