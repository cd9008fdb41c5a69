"""Known-wrong radix cache: the lazy eviction heap re-checks an entry for staleness on pop but
not for locks ("only unlocked leaves are ever pushed"), yet a leaf pushed while unlocked can be
locked later by a request that matched it, and is then evicted from under that request.
Rejected by: test_eviction_order_follows_every_node_on_the_walk
"""

from __future__ import annotations

import heapq

from solutions.radix_tree.python import RadixCache as _RadixCache


class RadixCache(_RadixCache):
    def evict(self, num_tokens: int) -> list[int]:
        freed: list[int] = []
        heap = self._heap
        while len(freed) < num_tokens and heap:
            stamp, _, node = heapq.heappop(heap)
            # BUG: no `node.lock_ref == 0` check: the lock may have come after the push
            if node.last_access != stamp or node.parent is None or node.children:
                continue
            freed += node.value
            parent = node.parent
            del parent.children[node.key[0]]
            node.parent = None
            self._nodes -= 1
            self._total -= len(node.key)
            self._evictable -= len(node.key)
            self._push_if_evictable(parent)
        return freed
