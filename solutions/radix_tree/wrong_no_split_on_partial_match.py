"""Known-wrong radix cache: a match that ends inside an edge returns the child whose edge runs
past the match end instead of splitting it, so the node (and its lock) covers unmatched tokens.

The values are right, so a test that only compares match_prefix results passes; locking the
returned node pins the whole edge and touches the unused tail for LRU.
Rejected by: test_split_inside_an_edge_at_fixed_positions
"""

from __future__ import annotations

from collections.abc import Sequence

from solutions.radix_tree.python import Node, _common_len
from solutions.radix_tree.python import RadixCache as _RadixCache


class RadixCache(_RadixCache):
    def match_prefix(self, key: Sequence[int]) -> tuple[list[int], Node]:
        key = list(key)
        self._clock += 1
        node, i, values = self.root, 0, []
        while i < len(key):
            child = node.children.get(key[i])
            if child is None:
                break
            child.last_access = self._clock
            if key[i : i + len(child.key)] != child.key:
                # BUG: no split; the values stop at the match end but the node runs past it
                values += child.value[: _common_len(child.key, key, i)]
                node = child
                break
            values += child.value
            i += len(child.key)
            node = child
        self._push_if_evictable(node)
        return values, node
