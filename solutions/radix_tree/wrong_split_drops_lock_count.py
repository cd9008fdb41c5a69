"""Known-wrong radix cache: splitting an edge gives the new front node a fresh lock count of 0
instead of the count of the node it was cut from. Nothing shows until the lock that covered the
whole edge is released: the front node's count then goes to -1 and its tokens never become
evictable again.
Rejected by: test_a_node_handle_survives_a_split_above_it
"""

from __future__ import annotations

from solutions.radix_tree.python import Node
from solutions.radix_tree.python import RadixCache as _RadixCache


class RadixCache(_RadixCache):
    def _split(self, child: Node, at: int) -> Node:
        front = Node(child.key[:at], child.value[:at], child.parent, child.last_access)
        # BUG: missing `front.lock_ref = child.lock_ref`
        front.children[child.key[at]] = child
        child.parent.children[child.key[0]] = front
        child.key, child.value, child.parent = child.key[at:], child.value[at:], front
        self._nodes += 1
        return front
