"""Radix prefix cache reference: one dict entry per cached prefix (O(L^2) per call, obviously
right), plus the chat-trace replay the bench times and the scaling probe it reports."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

import torch


class Node:
    """A handle on the node that ends after the tokens `key`; the root is the empty tuple."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[int, ...]):
        self.key = key


class RadixCache:
    """Every cached prefix P (a tuple of tokens) is a dict key; the tree is implicit.

    A node is the run of tokens between two consecutive entries of `_ends` (the prefixes where a
    node ends) on one path, so a "split" is just adding a prefix to `_ends`. All tokens of a
    node were always touched together, so a node's access time is the stamp of its last token;
    a node's lock count is likewise the count stored on each of its tokens.
    """

    def __init__(self) -> None:
        self._value: dict[tuple, int] = {}  # prefix -> KV slot of its last token
        self._stamp: dict[tuple, int] = {}  # prefix -> logical time it was last touched
        self._lock: dict[tuple, int] = {}  # prefix -> number of live locks covering the token
        self._kids: dict[tuple, int] = {(): 0}  # prefix -> cached one-token extensions
        self._ends: set[tuple] = set()  # prefixes where a node ends (never the root)
        self._clock = 0

    def _cached_len(self, key: tuple) -> int:
        m = 0
        while m < len(key) and key[: m + 1] in self._value:  # hashes a prefix: O(m) each
            m += 1
        return m

    def _touch(self, prefix: tuple) -> None:
        """One logical tick for the whole call; the match end becomes a node end (the split)."""
        self._clock += 1
        for i in range(1, len(prefix) + 1):
            self._stamp[prefix[:i]] = self._clock
        if prefix:
            self._ends.add(prefix)

    def match_prefix(self, key: Sequence[int]) -> tuple[list[int], Node]:
        key = tuple(key)
        m = self._cached_len(key)
        self._touch(key[:m])
        return [self._value[key[:i]] for i in range(1, m + 1)], Node(key[:m])

    def insert(self, key: Sequence[int], value: Sequence[int]) -> int:
        if len(key) != len(value):
            raise ValueError(f"insert: len(key) = {len(key)} but len(value) = {len(value)}")
        key = tuple(key)
        m = self._cached_len(key)
        for i in range(m, len(key)):  # the uncached suffix; the cached part keeps its values
            p = key[: i + 1]
            self._value[p], self._lock[p], self._kids[p] = int(value[i]), 0, 0
            self._kids[p[:-1]] += 1
        if 0 < m < len(key):
            self._ends.add(key[:m])  # the new branch splits the edge where it diverges
        self._touch(key)
        return m

    def inc_lock(self, node: Node) -> None:
        for i in range(1, len(node.key) + 1):
            self._lock[node.key[:i]] += 1

    def dec_lock(self, node: Node) -> None:
        if node.key and self._lock[node.key] == 0:
            raise ValueError(f"dec_lock: the node ending at token {len(node.key)} is not locked")
        for i in range(1, len(node.key) + 1):
            self._lock[node.key[:i]] -= 1

    def evict(self, num_tokens: int) -> list[int]:
        freed: list[int] = []
        while len(freed) < num_tokens:
            leaves = [e for e in self._ends if self._kids[e] == 0 and self._lock[e] == 0]
            if not leaves:
                break
            end = min(leaves, key=lambda e: (self._stamp[e], e))  # least recently used
            start = max(i for i in range(len(end)) if i == 0 or end[:i] in self._ends)
            for i in range(start + 1, len(end) + 1):  # the node's tokens, in key order
                p = end[:i]
                freed.append(self._value.pop(p))
                del self._stamp[p], self._lock[p], self._kids[p]
            self._kids[end[:start]] -= 1
            self._ends.remove(end)
        return freed

    def total_size(self) -> int:
        return len(self._value)

    def evictable_size(self) -> int:
        return sum(1 for n in self._lock.values() if n == 0)


# ---- the benchmark: a multi-turn chat trace with shared system prompts ----------------------


def _tokens(n: int, vocab: int, gen: torch.Generator) -> list[int]:
    return torch.randint(0, vocab, (n,), generator=gen).tolist()


def _length(mean: int, gen: torch.Generator) -> int:
    return int(torch.randint(mean // 2, mean + mean // 2 + 1, (1,), generator=gen))


def _conversations(case: dict[str, Any], gen: torch.Generator) -> list[list]:
    """[history, turns]: history starts as a shared system prompt; a turn is (user, reply)."""
    vocab = case.get("vocab", 32000)
    systems = [_tokens(case["system_len"], vocab, gen) for _ in range(case["systems"])]
    convs = []
    for _ in range(case["conversations"]):
        sys_id = int(torch.randint(0, len(systems), (1,), generator=gen))
        turns = [
            (
                _tokens(_length(case["user_len"], gen), vocab, gen),
                _tokens(_length(case["reply_len"], gen), vocab, gen),
            )
            for _ in range(case["turns"])
        ]
        convs.append([list(systems[sys_id]), turns])
    return convs


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """`active` conversations run at once, each on one of `systems` shared system prompts; each
    step serves `batch` of them, one turn each: prompt = system + history + new user message,
    full = prompt + reply. A finished conversation is replaced by a new one."""
    waiting, active, batches = _conversations(case, gen)[::-1], [], []
    while waiting or active:
        while waiting and len(active) < case["active"]:
            active.append(waiting.pop())
        order = torch.randperm(len(active), generator=gen).tolist()[: case["batch"]]
        batch = []
        for i in order:
            history, turns = active[i]
            user, reply = turns.pop(0)
            prompt = history + user
            history[:] = prompt + reply  # the next turn sees this one's prompt and reply
            batch.append((prompt, list(history)))
        active = [c for c in active if c[1]]
        batches.append(batch)
    return {"batches": batches, "capacity": case["capacity"]}


def cost(case: dict[str, Any]) -> dict[str, float]:
    # CPU speedup metric: the reference replay is the baseline; no DRAM or FLOP floor applies
    return {"bytes": 0.0, "flops": 0.0}


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


def bench_target(module: Any):
    return lambda batches, capacity: replay(module.RadixCache, batches, capacity)


def compare(got: Any, expected: Any, inputs: dict, problem: Any) -> None:
    names = ("matched tokens", "insert's cached count", "tokens evicted", "hash of matched values")
    if len(got) != len(expected):
        raise AssertionError(f"replay returned {len(got)} rows, the reference {len(expected)}")
    for i, (g, e) in enumerate(zip(got[:-1], expected[:-1])):
        for name, a, b in zip(names, g, e):
            if a != b:
                raise AssertionError(f"request {i} of the trace: {name} {a}, reference {b}")
    if got[-1] != expected[-1]:
        raise AssertionError(
            f"after the trace (total, evictable, free slots) = {got[-1]}, reference {expected[-1]}"
        )


def _probe(cache_cls: type, n_seqs: int, p: dict) -> tuple[list[float], int]:
    """Fill a tree with n_seqs sequences (n_seqs / 8 shared prefixes, so the root's fan-out grows
    too), then time a fixed mix of chat-like requests on recently used sequences at a constant
    capacity (match, lock, evictable_size, insert, unlock, evict), chunk by chunk. The requests
    have the same lengths whatever n_seqs is. Returns (seconds per chunk, tokens requested)."""
    gen, qgen = torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)
    heads = [_tokens(p["growth_prefix"], 32000, gen) for _ in range(max(1, n_seqs // 8))]
    seqs = [heads[i % len(heads)] + _tokens(p["growth_suffix"], 32000, gen) for i in range(n_seqs)]
    cache, slot = cache_cls(), 0
    for s in seqs:
        cache.insert(s, list(range(slot, slot + len(s))))
        slot += len(s)
    capacity, recent, n = cache.total_size(), seqs[-p["growth_recent"] :], p["growth_queries"]
    picks = torch.randint(0, len(recent), (n,), generator=qgen).tolist()
    cuts = torch.randint(1, len(seqs[0]) + 1, (n,), generator=qgen).tolist()
    queries = [recent[i][:c] + _tokens(p["growth_new"], 32000, qgen) for i, c in zip(picks, cuts)]
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


def bench_extra(module: Any, perf: Any, problem: Any) -> dict[str, Any]:
    """Hit rate and tokens/s of one replay of the first perf trace, and the scaling check: the
    per-token cost may grow less than growth_limit when the tree grows growth_factor times."""
    p = problem.params
    inputs = make_inputs(perf.cases[0], torch.Generator().manual_seed(1000))
    t0 = time.perf_counter()
    rows = replay(module.RadixCache, **inputs)
    seconds = time.perf_counter() - t0
    prompts = [len(prompt) for batch in inputs["batches"] for prompt, _ in batch]
    tokens = sum(len(prompt) + len(full) for batch in inputs["batches"] for prompt, full in batch)
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
