"""Radix prefix cache reference: one dict entry per cached prefix (O(L^2) per call, obviously
right), and the multi-turn chat traces the tests and the bench replay."""

from __future__ import annotations

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


def random_tokens(n: int, vocab: int, gen: torch.Generator) -> list[int]:
    return torch.randint(0, vocab, (n,), generator=gen).tolist()


def _length(mean: int, gen: torch.Generator) -> int:
    return int(torch.randint(mean // 2, mean + mean // 2 + 1, (1,), generator=gen))


def _conversations(case: dict[str, Any], gen: torch.Generator) -> list[list]:
    """[history, turns]: history starts as a shared system prompt; a turn is (user, reply)."""
    vocab = case.get("vocab", 32000)
    systems = [random_tokens(case["system_len"], vocab, gen) for _ in range(case["systems"])]
    convs = []
    for _ in range(case["conversations"]):
        sys_id = int(torch.randint(0, len(systems), (1,), generator=gen))
        turns = [
            (
                random_tokens(_length(case["user_len"], gen), vocab, gen),
                random_tokens(_length(case["reply_len"], gen), vocab, gen),
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
