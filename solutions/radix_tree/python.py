"""Radix prefix cache (SGLang-style) as a compressed radix tree with an evictable-leaf heap.

Idea: each edge holds a run of tokens and their KV slots; children are keyed by the first token
of their edge, so a lookup costs one dict probe per node plus one C-level slice comparison per
edge, O(L) for a key of L tokens whatever the tree size. A match or insert that ends inside an
edge splits it: a new node takes the front of the edge, so the old node (and any handle on it)
keeps meaning the same prefix end. LRU uses a logical clock, one tick per call; unlocked leaves
sit in a min-heap by access time with lazy deletion (an entry is checked when popped), and
total/evictable sizes are counters updated on every insert, split, lock and eviction.
Cost: O(L) per match/insert, O(depth) per lock, O(log n) per evicted node.
Limits: one thread; node handles are valid until their node is evicted.
Run it: `dojo check radix_tree --impl solution`, `dojo bench radix_tree --impl solution`.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


class Node:
    """An edge of token run `key` (KV slots `value`) hanging under `parent`."""

    __slots__ = ("key", "value", "children", "parent", "lock_ref", "last_access")

    def __init__(self, key: list[int], value: list[int], parent: Node | None, stamp: int):
        self.key, self.value, self.parent = key, value, parent
        self.children: dict[int, Node] = {}  # first token of the child's edge -> child
        self.lock_ref = 0  # live locks on this node or on any node below it
        self.last_access = stamp


def _common_len(edge: list[int], key: list[int], start: int) -> int:
    """Length of the common prefix of edge and key[start:], by binary search on C-level slice
    comparisons (a Python loop per token would cost as much as the rest of the match)."""
    lo, hi = 0, min(len(edge), len(key) - start)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if key[start : start + mid] == edge[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class RadixCache:
    def __init__(self) -> None:
        self.root = Node([], [], None, 0)
        self._clock = 0
        self._total = 0  # cached tokens
        self._evictable = 0  # cached tokens in nodes with lock_ref == 0
        self._nodes = 0  # nodes below the root, to bound the heap's stale entries
        self._heap: list[tuple[int, int, Node]] = []  # (last_access, tiebreak, leaf)
        self._pushes = 0

    # ---- the walk shared by match_prefix and insert ----

    def _walk(self, key: list[int]) -> tuple[Node, int, list[int]]:
        """Descend as far as key matches, splitting an edge where the match ends inside it;
        touch every node on the way. Returns (deepest node, matched length, matched values)."""
        self._clock += 1
        node, i, n, values = self.root, 0, len(key), []
        while i < n:
            child = node.children.get(key[i])
            if child is None:
                break
            edge = child.key
            if key[i : i + len(edge)] != edge:  # ends inside this edge: keep the front only
                child = self._split(child, _common_len(edge, key, i))
            child.last_access = self._clock
            values += child.value
            i += len(child.key)
            node = child
        return node, i, values

    def _split(self, child: Node, at: int) -> Node:
        """Cut child's edge after `at` tokens; the new front node inherits its locks and time."""
        front = Node(child.key[:at], child.value[:at], child.parent, child.last_access)
        front.lock_ref = child.lock_ref  # every lock below child also covers the front part
        front.children[child.key[at]] = child
        child.parent.children[child.key[0]] = front
        child.key, child.value, child.parent = child.key[at:], child.value[at:], front
        self._nodes += 1
        return front

    # ---- the public API ----

    def match_prefix(self, key: Sequence[int]) -> tuple[list[int], Node]:
        node, _, values = self._walk(key if type(key) is list else list(key))
        self._push_if_evictable(node)  # a touched leaf re-enters the heap with its new time
        return values, node

    def insert(self, key: Sequence[int], value: Sequence[int]) -> int:
        if len(key) != len(value):
            raise ValueError(f"insert: len(key) = {len(key)} but len(value) = {len(value)}")
        key = key if type(key) is list else list(key)
        node, cached, _ = self._walk(key)
        if cached < len(key):  # the uncached suffix becomes one new leaf; cached values win
            leaf = Node(key[cached:], list(value[cached:]), node, self._clock)
            node.children[key[cached]] = leaf
            self._nodes += 1
            self._total += len(leaf.key)
            self._evictable += len(leaf.key)
            node = leaf
        self._push_if_evictable(node)
        return cached

    def inc_lock(self, node: Node) -> None:
        while node is not self.root:
            if node.lock_ref == 0:
                self._evictable -= len(node.key)
            node.lock_ref += 1
            node = node.parent

    def dec_lock(self, node: Node) -> None:
        if node is not self.root and node.lock_ref == 0:
            raise ValueError("dec_lock: node is not locked (more dec_lock than inc_lock calls)")
        start = node
        while node is not self.root:
            node.lock_ref -= 1
            if node.lock_ref == 0:
                self._evictable += len(node.key)
            node = node.parent
        self._push_if_evictable(start)  # only the start can be a leaf: the rest are its ancestors

    def evict(self, num_tokens: int) -> list[int]:
        freed: list[int] = []
        heap = self._heap
        while len(freed) < num_tokens and heap:
            stamp, _, node = heapq.heappop(heap)
            if node.last_access != stamp or not self._evictable_leaf(node):
                continue  # stale entry: touched, locked, given a child or evicted since
            freed += node.value
            parent = node.parent
            del parent.children[node.key[0]]
            node.parent = None
            self._nodes -= 1
            self._total -= len(node.key)
            self._evictable -= len(node.key)
            self._push_if_evictable(parent)  # its last child gone: now a candidate itself
        return freed

    def total_size(self) -> int:
        return self._total

    def evictable_size(self) -> int:
        return self._evictable

    # ---- the evictable-leaf heap ----

    def _evictable_leaf(self, node: Node) -> bool:
        return node.parent is not None and not node.children and node.lock_ref == 0

    def _push_if_evictable(self, node: Node) -> None:
        if node is self.root or not self._evictable_leaf(node):
            return
        self._pushes += 1
        heapq.heappush(self._heap, (node.last_access, self._pushes, node))
        if len(self._heap) > 2 * self._nodes + 64:  # mostly stale: rebuild from live entries
            live = {
                id(n): (n.last_access, k, n)
                for t, k, n in self._heap
                if n.last_access == t and self._evictable_leaf(n)
            }
            self._heap = list(live.values())
            heapq.heapify(self._heap)
