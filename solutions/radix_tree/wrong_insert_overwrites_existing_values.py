"""Known-wrong radix cache: insert writes the caller's slots over the ones already cached for
the matched prefix ("the newest KV is the freshest"). The caller frees its duplicate slots
[:returned count], so the cache now points at freed KV memory, and the slots it held leak.
Rejected by: test_split_inside_an_edge_at_fixed_positions
"""

from __future__ import annotations

from collections.abc import Sequence

from solutions.radix_tree.python import RadixCache as _RadixCache


class RadixCache(_RadixCache):
    def insert(self, key: Sequence[int], value: Sequence[int]) -> int:
        cached = super().insert(key, value)
        key, value = list(key), list(value)
        node, i = self.root, 0
        while i < cached:  # the walk ends on node boundaries: insert split at `cached`
            node = node.children[key[i]]
            node.value = value[i : i + len(node.key)]  # BUG: existing values must win
            i += len(node.key)
        return cached
