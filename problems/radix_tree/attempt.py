"""Your radix prefix cache. Edit this file, then run `dojo check radix_tree` and
`dojo bench radix_tree`. The statement, with every rule the tests check, is in README.md."""

from __future__ import annotations

from collections.abc import Sequence


class Node:
    """One edge of the tree: a run of tokens, their KV slots, and the nodes hanging below it.
    Only your own code reads these fields; the tests just hand a node back to inc_lock/dec_lock."""

    __slots__ = ("key", "value", "children", "parent", "lock_ref", "last_access")

    def __init__(self, key: list[int], value: list[int], parent: Node | None) -> None:
        self.key = key  # the tokens on the edge from parent to this node
        self.value = value  # their KV slot ids, same length
        self.children: dict[int, Node] = {}  # first token of a child's edge -> child
        self.parent = parent
        self.lock_ref = 0  # live locks on this node or below it
        self.last_access = 0  # logical time of the last call that touched it


class RadixCache:
    def __init__(self) -> None:
        self.root = Node([], [], None)

    def match_prefix(self, key: Sequence[int]) -> tuple[list[int], Node]:
        # Walk down from the root while the key matches; split the edge where the match ends
        # inside it; stamp the nodes on the path; return (matched slots, node at the match end).
        raise NotImplementedError("match_prefix: walk, split, touch, return (values, node)")

    def insert(self, key: Sequence[int], value: Sequence[int]) -> int:
        # Match as above, then hang the uncached rest of key (with its slots) below the match end.
        # Return how many leading tokens were cached already; their existing slots win.
        raise NotImplementedError("insert: store the uncached suffix, return the cached length")

    def inc_lock(self, node: Node) -> None:
        # Every node from `node` up to (not including) the root gains one lock.
        raise NotImplementedError("inc_lock: walk node -> root")

    def dec_lock(self, node: Node) -> None:
        # The reverse of inc_lock; raise ValueError (changing nothing) if node is not locked.
        raise NotImplementedError("dec_lock: walk node -> root")

    def evict(self, num_tokens: int) -> list[int]:
        # Free least-recently-used unlocked leaves until num_tokens tokens are freed or nothing
        # is evictable; a parent whose last child goes becomes a leaf. Return the freed slots.
        raise NotImplementedError("evict: LRU unlocked leaves first")

    def total_size(self) -> int:
        raise NotImplementedError("total_size: cached tokens")

    def evictable_size(self) -> int:
        raise NotImplementedError("evictable_size: cached tokens under no lock")
