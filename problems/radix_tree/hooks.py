"""radix_tree's bench driver: the chat trace replayed like a scheduler (match, lock, allocate,
evict when short, insert, unlock), its row-by-row comparison, and the tree-growth probe."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import torch

from grader.harness.hooks import Hooks
from grader.problem.spec import Perf
from reference.radix_tree import make_inputs, random_tokens


class RadixTreeHooks(Hooks):
    @staticmethod
    def replay(cache_cls: type, batches: list, capacity: int) -> list[tuple[int, ...]]:
        return replay(cache_cls, batches, capacity)

    def bench_target(self, module: Any, perf: Perf) -> Callable[..., Any]:
        return lambda batches, capacity: replay(module.RadixCache, batches, capacity)

    def compare(self, got: Any, expected: Any, inputs: dict) -> None:
        names = (
            "matched tokens",
            "insert's cached count",
            "tokens evicted",
            "hash of matched values",
        )
        if len(got) != len(expected):
            raise AssertionError(f"replay returned {len(got)} rows, the reference {len(expected)}")
        for i, (g, e) in enumerate(zip(got[:-1], expected[:-1])):
            for name, a, b in zip(names, g, e):
                if a != b:
                    raise AssertionError(f"request {i} of the trace: {name} {a}, reference {b}")
        if got[-1] != expected[-1]:
            raise AssertionError(
                f"after the trace (total, evictable, free slots) = {got[-1]}, "
                f"reference {expected[-1]}"
            )

    def bench_extra(self, module: Any, perf: Perf) -> dict[str, Any]:
        """Hit rate and tokens/s of one replay of the first perf trace, and the scaling check: the
        per-token cost may grow less than growth_limit when the tree grows growth_factor times."""
        p = self.problem.params
        inputs = make_inputs(perf.cases[0], torch.Generator().manual_seed(1000))
        t0 = time.perf_counter()
        rows = replay(module.RadixCache, **inputs)
        seconds = time.perf_counter() - t0
        prompts = [len(prompt) for batch in inputs["batches"] for prompt, _ in batch]
        tokens = sum(
            len(prompt) + len(full) for batch in inputs["batches"] for prompt, full in batch
        )
        ns_small, ns_large = _scaling(module.RadixCache, p)
        growth = ns_large / ns_small
        return {
            "hit_rate": round(sum(r[0] for r in rows[:-1]) / sum(prompts), 4),
            "tokens_per_s": round(tokens / seconds),
            "requests": len(prompts),
            "ns_per_token_small_tree": round(ns_small, 1),
            "ns_per_token_large_tree": round(ns_large, 1),
            "tree_sequences": [p["growth_sequences"], p["growth_sequences"] * p["growth_factor"]],
            "cost_growth": round(growth, 3),
            "growth_limit": p["growth_limit"],
            "tier_cap": "none" if growth < p["growth_limit"] else None,
        }


def replay(cache_cls: type, batches: list, capacity: int) -> list[tuple[int, ...]]:
    """Serve the trace like a scheduler: match and lock each request of a batch, allocate KV
    slots for the uncached tokens (evicting when short), then insert the full sequences, free
    the duplicate slots and unlock. One result row per request, then the final sizes."""
    cache = cache_cls()
    free = list(range(capacity - 1, -1, -1))  # KV slot allocator: pop from the end
    rows = []
    for batch in batches:
        running = []
        for prompt, full in batch:
            values, node = cache.match_prefix(prompt)
            cache.inc_lock(node)  # the request is running: its cached prefix must stay
            need, evicted = len(full) - len(values), 0
            if need > len(free):
                freed = cache.evict(need - len(free))
                evicted = len(freed)
                free.extend(sorted(freed, reverse=True))  # order-free: only the set matters
            if need > len(free):
                raise AssertionError(
                    f"request needs {need} KV slots but only {len(free)} are free after "
                    f"evict({need - len(free) + evicted}) freed {evicted}"
                )
            slots = values + free[len(free) - need :]
            del free[len(free) - need :]
            running.append((full, slots, node, len(values), hash(tuple(values)), evicted))
        for full, slots, node, hit, digest, evicted in running:
            cached = cache.insert(full, slots)
            free.extend(slots[hit:cached])  # cached meanwhile by a request of this batch
            cache.dec_lock(node)
            rows.append((hit, cached, evicted, digest))
    rows.append((cache.total_size(), cache.evictable_size(), len(free)))
    return rows


def _probe(cache_cls: type, n_seqs: int, p: dict) -> tuple[list[float], int]:
    """Fill a tree with n_seqs sequences (n_seqs / 8 shared prefixes, so the root's fan-out grows
    too), then time a fixed mix of chat-like requests on recently used sequences at a constant
    capacity (match, lock, evictable_size, insert, unlock, evict), chunk by chunk. The requests
    have the same lengths whatever n_seqs is. Returns (seconds per chunk, tokens requested)."""
    gen, qgen = torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)
    heads = [random_tokens(p["growth_prefix"], 32000, gen) for _ in range(max(1, n_seqs // 8))]
    seqs = [
        heads[i % len(heads)] + random_tokens(p["growth_suffix"], 32000, gen) for i in range(n_seqs)
    ]
    cache, slot = cache_cls(), 0
    for s in seqs:
        cache.insert(s, list(range(slot, slot + len(s))))
        slot += len(s)
    capacity, recent, n = cache.total_size(), seqs[-p["growth_recent"] :], p["growth_queries"]
    picks = torch.randint(0, len(recent), (n,), generator=qgen).tolist()
    cuts = torch.randint(1, len(seqs[0]) + 1, (n,), generator=qgen).tolist()
    queries = [
        recent[i][:c] + random_tokens(p["growth_new"], 32000, qgen) for i, c in zip(picks, cuts)
    ]
    seconds = []
    for c in range(0, n, p["growth_chunk"]):
        collecting = gc.isenabled()
        gc.disable()  # a full collection's pause grows with the heap, whatever the structure
        t0 = time.perf_counter()
        for q in queries[c : c + p["growth_chunk"]]:
            _, node = cache.match_prefix(q)
            cache.inc_lock(node)
            cache.evictable_size()  # a scheduler asks before every allocation
            cache.insert(q, list(range(slot, slot + len(q))))
            slot += len(q)
            cache.dec_lock(node)
            if cache.total_size() > capacity:
                cache.evict(cache.total_size() - capacity)
        seconds.append(time.perf_counter() - t0)
        if collecting:
            gc.enable()
    return seconds, sum(len(q) for q in queries)


def _scaling(cache_cls: type, p: dict) -> tuple[float, float]:
    """ns per token on the small and the growth_factor times larger tree: each chunk's best
    time over the repeats (small and large interleaved, so load on the machine hits both)."""
    sizes = (p["growth_sequences"], p["growth_sequences"] * p["growth_factor"])
    best: dict[int, list[float]] = {}
    began = time.perf_counter()
    for _ in range(p["growth_repeats"]):
        for n in sizes:
            seconds, tokens = _probe(cache_cls, n, p)
            best[n] = [min(a, b) for a, b in zip(best.get(n, seconds), seconds)]
        if time.perf_counter() - began > p["growth_budget_s"]:
            break  # a slow structure: its few repeats already show how it scales
    return tuple(sum(best[n]) * 1e9 / tokens for n in sizes)


HOOKS = RadixTreeHooks
