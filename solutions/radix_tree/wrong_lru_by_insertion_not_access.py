"""Known-wrong radix cache: match_prefix never stamps the nodes it walks through, so "least
recently used" is really "least recently inserted": a system prompt that every request hits is
evicted first if it was inserted first.
Rejected by: test_evict_frees_the_least_recently_used_leaf_first
"""

from __future__ import annotations

from collections.abc import Sequence

from solutions.radix_tree.python import Node, _common_len
from solutions.radix_tree.python import RadixCache as _RadixCache


class RadixCache(_RadixCache):
    def match_prefix(self, key: Sequence[int]) -> tuple[list[int], Node]:
        key = list(key)
        node, i, values = self.root, 0, []
        while i < len(key):
            child = node.children.get(key[i])
            if child is None:
                break
            if key[i : i + len(child.key)] != child.key:
                child = self._split(child, _common_len(child.key, key, i))
            # BUG: no `child.last_access = <new tick>`: a hit does not count as a use
            values += child.value
            i += len(child.key)
            node = child
        return values, node
