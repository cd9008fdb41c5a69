"""Known-wrong radix cache: a call refreshes the LRU time of the node where it ends (the node a
match returns, the leaf an insert adds), not of the ancestors its walk passed through. A shared
prefix then looks as old as its first use once its children are evicted, and goes before a leaf
used after it; this shows only when a lock held that leaf back while the younger child went.

Rejected by: test_eviction_order_follows_every_node_on_the_walk
"""

from __future__ import annotations

from collections.abc import Sequence

from solutions.radix_tree.python import Node, _common_len
from solutions.radix_tree.python import RadixCache as _RadixCache


class RadixCache(_RadixCache):
    def _walk(self, key: list[int]) -> tuple[Node, int, list[int]]:
        self._clock += 1
        node, i, values = self.root, 0, []
        while i < len(key):
            child = node.children.get(key[i])
            if child is None:
                break
            if key[i : i + len(child.key)] != child.key:
                child = self._split(child, _common_len(child.key, key, i))
            values += child.value  # BUG: no `child.last_access = self._clock` on the way down
            i += len(child.key)
            node = child
        if i == len(key):  # the key ends here; an insert that goes further stamps its new leaf
            node.last_access = self._clock
        return node, i, values

    def match_prefix(self, key: Sequence[int]) -> tuple[list[int], Node]:
        node, _, values = self._walk(list(key))
        node.last_access = self._clock  # a partial hit ends where the match stops
        self._push_if_evictable(node)
        return values, node
