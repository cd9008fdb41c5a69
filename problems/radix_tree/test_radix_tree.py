"""Tests for radix_tree: a hypothesis state machine checks RadixCache rule by rule against a plain
prefix model; fixed cases pin each rule (split, LRU, locks, eviction); a chat trace is replayed
against the reference (`pytest problems/radix_tree --impl attempt`, or `dojo check radix_tree`)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from grader.harness.checked import ImplError
from grader.harness.strategies import SEEDS, case_id, fixed_cases
from grader.problem.registry import get_problem
from reference import radix_tree as ref

SLUG = "radix_tree"
PROBLEM = get_problem(SLUG)
TOKENS = st.integers(*PROBLEM.ranges["token"])
KEYS = st.lists(
    TOKENS, min_size=PROBLEM.ranges["key_len"][0], max_size=PROBLEM.ranges["key_len"][1]
)
# mostly a node or two (which node goes first is the LRU check), sometimes everything evictable
EVICT = st.one_of(
    st.just(1), st.integers(1, 3), st.integers(*PROBLEM.ranges["evict"]), st.just(10**6)
)


def _ints(v) -> bool:
    return type(v) is list and all(type(x) is int for x in v)


# what each method must return (README), checked before a test computes with the answer
RETURNS = {
    "match_prefix": (
        "(values: a list of ints, node)",
        lambda v: type(v) is tuple and len(v) == 2 and _ints(v[0]),
    ),
    "insert": ("an int: how many leading tokens were cached", lambda v: type(v) is int),
    "evict": ("a list of ints: the freed slots", _ints),
    "total_size": ("an int", lambda v: type(v) is int),
    "evictable_size": ("an int", lambda v: type(v) is int),
}


class Typed:
    """A RadixCache of the implementation whose answers are checked for their type first: an
    evict that returns a count fails as that, not as a TypeError inside a test."""

    def __init__(self, cache) -> None:
        self._cache = cache

    def __getattr__(self, name: str):
        method = getattr(self._cache, name)
        if name not in RETURNS:
            return method
        what, ok = RETURNS[name]

        def call(*args, **kwargs):
            got = method(*args, **kwargs)
            assert ok(got), f"RadixCache.{name} returned {got!r:.80}, expected {what}"
            return got

        return call


class TypedImpl:
    """The implementation, its RadixCache built as a Typed one."""

    def __init__(self, impl) -> None:
        self._impl = impl

    def RadixCache(self):  # noqa: N802 - the implementation's class name
        return Typed(self._impl.RadixCache())

    def __getattr__(self, name: str):
        return getattr(self._impl, name)


@pytest.fixture(scope="module")
def impl(impl):
    return TypedImpl(impl)


class Model:
    """The cache as plain dicts over prefixes (tuples of tokens): what any RadixCache must show.

    A node is the run of tokens between two consecutive `ends` on one path: every match or
    insert ends a node where it stops, and an insert that branches off also ends one there.
    """

    def __init__(self) -> None:
        self.value: dict[tuple, int] = {}  # cached prefix -> slot first inserted for its token
        self.stamp: dict[tuple, int] = {}  # cached prefix -> tick of the last call touching it
        self.ends: set[tuple] = set()
        self.locks: list[tuple] = []  # the prefix of every live inc_lock, one entry per call
        self.clock = 0

    def cached_len(self, key: tuple) -> int:
        m = 0
        while m < len(key) and key[: m + 1] in self.value:
            m += 1
        return m

    def touch(self, prefix: tuple) -> None:
        self.clock += 1
        self.stamp.update({prefix[:i]: self.clock for i in range(1, len(prefix) + 1)})
        if prefix:
            self.ends.add(prefix)

    def match(self, key: tuple) -> list[int]:
        m = self.cached_len(key)
        self.touch(key[:m])
        return [self.value[key[:i]] for i in range(1, m + 1)]

    def insert(self, key: tuple, value: list[int]) -> int:
        m = self.cached_len(key)
        self.value.update({key[: i + 1]: value[i] for i in range(m, len(key))})
        if 0 < m < len(key):
            self.ends.add(key[:m])
        self.touch(key)
        return m

    def locked(self, p: tuple) -> bool:
        return any(h[: len(p)] == p for h in self.locks)

    def evictable(self) -> int:
        return sum(not self.locked(p) for p in self.value)

    def evict(self, n: int) -> list[int]:
        freed: list[int] = []
        while len(freed) < n:
            inner = {p[:-1] for p in self.value}
            leaves = [e for e in self.ends if e not in inner and not self.locked(e)]
            if not leaves:
                break
            end = min(leaves, key=self.stamp.__getitem__)
            above = [e for e in self.ends | {()} if len(e) < len(end) and end[: len(e)] == e]
            start = max(map(len, above))  # where the leaf's node begins: its parent's end
            for i in range(start + 1, len(end) + 1):
                freed.append(self.value.pop(end[:i]))
                del self.stamp[end[:i]]
            self.ends.remove(end)
        return freed


def make_machine(new_cache) -> type:
    class RadixCacheMachine(RuleBasedStateMachine):
        keys = Bundle("keys")

        def __init__(self) -> None:
            super().__init__()
            self.cache, self.model = new_cache(), Model()
            self.held: list[tuple] = []  # (node, locked prefix) for every live inc_lock
            self.next_slot = 0  # slots are never reused, so each names one (prefix, insert)
            self.freed: set[int] = set()

        def _insert(self, key: list[int], kind: type) -> tuple:
            value = list(range(self.next_slot, self.next_slot + len(key)))
            self.next_slot += len(key)
            got, want = self.cache.insert(kind(key), value), self.model.insert(tuple(key), value)
            assert got == want, (
                f"insert({key}) returned {got}; {want} leading tokens were already cached"
            )
            return tuple(key)

        @initialize(target=keys, start=st.lists(KEYS, min_size=2, max_size=5))
        def fill(self, start):
            return multiple(*(self._insert(key, list) for key in start))

        @rule(target=keys, key=KEYS, kind=st.sampled_from([list, tuple]))
        def insert(self, key, kind):
            return self._insert(key, kind)

        @rule(target=keys, base=keys, cut=st.integers(0, 9), tail=KEYS)
        def insert_branch(self, base, cut, tail):
            return self._insert(list(base[:cut]) + tail, list)

        def _match(self, key: list[int], kind: type):
            values, node = self.cache.match_prefix(kind(key))
            want = self.model.match(tuple(key))
            assert list(values) == want, (
                f"match_prefix({key}) returned values {list(values)}, "
                f"expected {want} (the slots first inserted there)"
            )
            return node, tuple(key[: len(want)])

        @rule(key=KEYS, kind=st.sampled_from([list, tuple]), lock=st.booleans())
        def match(self, key, kind, lock):
            self._lock_maybe(*self._match(key, kind), lock)

        @rule(
            base=keys, cut=st.integers(0, 9), tail=st.lists(TOKENS, max_size=2), lock=st.booleans()
        )
        def match_near_cached(self, base, cut, tail, lock):
            self._lock_maybe(*self._match(list(base[:cut]) + tail, list), lock)

        def _lock_maybe(self, node, prefix: tuple, lock: bool) -> None:
            if lock:
                self.cache.inc_lock(node)
                self.held.append((node, prefix))
                self.model.locks.append(prefix)

        @precondition(lambda self: self.held)
        @rule(pick=st.integers(0, 10**6))
        def unlock(self, pick):
            node, prefix = self.held.pop(pick % len(self.held))
            self.cache.dec_lock(node)
            self.model.locks.remove(prefix)

        @rule(base=keys, cut=st.integers(1, 9))
        def unlock_below_zero(self, base, cut):
            node, prefix = self._match(list(base[:cut]), list)
            if prefix and not self.model.locked(prefix):
                expect_lock_error(lambda: self.cache.dec_lock(node), f"the node of {list(prefix)}")

        @rule(n=EVICT)
        def evict(self, n):
            self._evict(n)

        @rule(key=keys)
        def hit_then_evict_one_node(self, key):  # memory pressure right after a cache hit
            self._match(list(key), list)
            self._evict(1)

        @rule(held=keys, used=keys, tail=st.lists(TOKENS, min_size=1, max_size=3))
        def evict_past_a_lock_then_drain(self, held, used, tail):
            """A request holds an old leaf while a newer path is evicted past it, node by node;
            once the request ends, the rest drains one node per call: the whole order must match,
            so a prefix is weighed by its last use through any child, not by the last walk that
            ended on it."""
            node, prefix = self._match(list(held), list)
            self._lock_maybe(node, prefix, True)
            self._insert(list(used) + tail, list)
            newest = self.next_slot - 1  # the last token of that insert
            while newest in self.model.value.values() and self.model.evictable():
                self._evict(1)
            self.held.remove((node, prefix))
            self.cache.dec_lock(node)
            self.model.locks.remove(prefix)
            while self.model.evictable():
                self._evict(1)

        @rule(key=keys)
        def run_then_evict_everything(self, key):  # a request runs while memory runs out
            self._lock_maybe(*self._match(list(key), list), True)
            self._evict(10**6)

        def _evict(self, n: int) -> None:
            slot_of = {v: p for p, v in self.model.value.items()}
            locked = {v for p, v in self.model.value.items() if self.model.locked(p)}
            stamp = dict(self.model.stamp)  # before the model forgets what it evicts
            got = list(self.cache.evict(n))
            want = self.model.evict(n)
            check_evicted(got, n, slot_of, locked, self.freed)

            def show(slots: list[int]) -> str:  # slot: token prefix @ tick of its last use
                return ", ".join(
                    f"{v}: {list(slot_of[v])} @{stamp[slot_of[v]]}" for v in sorted(slots)
                )

            assert sorted(got) == sorted(want), (
                f"evict({n}) freed {{{show(got)}}}, expected {{{show(want)}}} (slot: tokens "
                f"@ tick of last use, now {self.model.clock}): whole unlocked leaves, least "
                "recently used first, a parent once its last child is gone, and no more nodes "
                "than needed to reach n tokens"
            )
            self.freed.update(got)

        @invariant()
        def sizes_add_up(self):
            total, evictable = self.cache.total_size(), self.cache.evictable_size()
            want_total, want_evictable = len(self.model.value), self.model.evictable()
            assert total == want_total, f"total_size() = {total}, {want_total} tokens are cached"
            assert evictable == want_evictable, (
                f"evictable_size() = {evictable}, expected {want_evictable}: {want_total} cached "
                f"minus {want_total - want_evictable} under a lock (total = evictable + locked)"
            )

    return RadixCacheMachine


def expect_lock_error(call, what: str) -> None:
    """dec_lock below zero must raise ValueError or RuntimeError (not NotImplementedError)."""
    try:
        call()
    except ImplError as e:
        if e.raised("ValueError", "RuntimeError"):
            return
        raise AssertionError(f"dec_lock on {what} (lock count 0): {e}; expected ValueError") from e
    raise AssertionError(
        f"dec_lock on {what} (lock count 0) returned normally: it must raise ValueError"
    )


def check_evicted(got: list[int], n: int, slot_of: dict, locked: set, freed_before: set) -> None:
    """What evict may return, whatever the tree: cached, unlocked slots, each once, ever."""
    assert len(got) == len(set(got)), f"evict({n}) returned a slot twice: {sorted(got)}"
    again = sorted(set(got) & freed_before)
    assert not again, f"evict({n}) returned slots {again}, already freed by an earlier evict"
    stray = sorted(v for v in got if v not in slot_of)
    assert not stray, (
        f"evict({n}) returned slots {stray}, which the cache should not hold (never stored, or "
        "a duplicate that insert should have left to the caller)"
    )
    bad = sorted(v for v in got if v in locked)
    assert not bad, (
        f"evict({n}) freed locked tokens: slots {bad} at {[list(slot_of[v]) for v in bad][:3]}"
    )


def expect(got, want, what: str) -> None:
    """`what` names the fields of a tuple: "(total_size(), evictable_size())", not "sizes"."""
    assert not isinstance(want, tuple) or what.startswith("("), f"name the fields in {what!r}"
    assert got == want, f"{what}: got {got}, expected {want}"


def sizes(cache) -> tuple[int, int]:
    return cache.total_size(), cache.evictable_size()


def _tokens(case: dict, n: int, seed: int) -> list[int]:
    kind = case.get("tokens", "random")
    if kind == "zeros":  # token 0 everywhere: falsy keys, and every edge starts with the same token
        return [0] * n
    if kind == "repeated":
        return [7] * n
    high = 2**63 - 1 if kind == "large" else 32000
    return torch.randint(
        high - 32000 if kind == "large" else 0,
        high,
        (n,),
        generator=torch.Generator().manual_seed(seed),
    ).tolist()


@pytest.mark.parametrize("case", fixed_cases(SLUG), ids=case_id)
def test_split_inside_an_edge_at_fixed_positions(impl, case):
    """Cache one edge of L tokens, match its first s tokens then a different one, and follow what
    the returned node locks, what a branch insert reports and what eviction frees, node by node."""
    n, s = case["key_len"], case["split_at"]
    key = _tokens(case, n, n)
    other = key[s] + 1 if s < n else 5  # diverges right after the s matched tokens
    probe = key[:s] + [other]
    cache = impl.RadixCache()
    hit = cache.insert(key, list(range(n)))
    assert hit == 0, (
        f"insert into an empty cache returned {hit!r}, expected 0 (how many of its tokens "
        "were cached already)"
    )
    values, node = cache.match_prefix(probe)
    assert list(values) == list(range(s)), (
        f"match_prefix of the first {s} of {n} cached tokens returned {len(values)} values "
        f"starting {list(values)[:8]}, expected slots 0..{s - 1}"
    )
    cache.inc_lock(node)
    assert (cache.total_size(), cache.evictable_size()) == (n, n - s), (
        f"after locking a match of {s} tokens inside an edge of {n}: (total, evictable) = "
        f"{(cache.total_size(), cache.evictable_size())}, expected {(n, n - s)}: the match must "
        "split the edge so that the node covers exactly the matched prefix"
    )
    cached = cache.insert(probe, [10**6] * (s + 1))
    assert cached == s, f"insert of a branch after {s} cached tokens returned {cached}"
    freed = sorted(cache.evict(n + 10))
    assert freed == [*range(s, n), 10**6], (
        f"evict({n + 10}) with the first {s} tokens locked freed {len(freed)} slots starting "
        f"{freed[:8]}, expected slots {s}..{n - 1} and the branch's 1000000"
    )
    expect(
        sizes(cache), (s, 0), "(total_size(), evictable_size()) after evicting all that is unlocked"
    )
    cache.dec_lock(node)
    assert cache.evictable_size() == s, (
        f"after dec_lock evictable_size() = {cache.evictable_size()}, expected {s}"
    )
    expect(list(cache.match_prefix(key)[0]), list(range(s)), f"values of the {s} cached tokens")
    expect(sorted(cache.evict(1)), list(range(s)), "evict(1) on one node (it frees it whole)")
    expect(
        (*sizes(cache), cache.evict(1)),
        (0, 0, []),
        "(total_size(), evictable_size(), evict(1)) at the end",
    )


def test_match_inside_an_edge_returns_a_node_for_exactly_the_matched_prefix(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2, 3, 4, 5, 6], [10, 11, 12, 13, 14, 15])
    values, node = cache.match_prefix([1, 2, 3, 9])
    expect(list(values), [10, 11, 12], "match_prefix([1, 2, 3, 9]) values")
    cache.inc_lock(node)
    assert cache.evictable_size() == 3, (
        f"locking the node of match [1, 2, 3] inside edge [1..6] left evictable_size() = "
        f"{cache.evictable_size()}, expected 3 (tokens 4, 5, 6): split the edge at the match end"
    )
    expect(sorted(cache.evict(1)), [13, 14, 15], "evict(1) with [1, 2, 3] locked")


def test_insert_returns_the_cached_prefix_length(impl):
    cache = impl.RadixCache()
    for key, want in [
        ([1, 2, 3], 0),
        ([1, 2, 3, 4], 3),
        ([1, 2, 9], 2),
        ([1, 2], 2),
        ([1, 2, 3, 4], 4),
        ([5], 0),
        ([], 0),
        ([1, 2, 9, 9, 9], 3),
    ]:
        got = cache.insert(key, list(range(100, 100 + len(key))))
        assert got == want, f"insert({key}) returned {got}, {want} leading tokens were cached"


def test_existing_values_win_over_reinserted_ones(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2, 3], [10, 11, 12])
    expect(cache.insert([1, 2, 3, 4], [20, 21, 22, 23]), 3, "insert([1, 2, 3, 4]) return")
    expect(cache.insert([1, 2], [30, 31]), 2, "insert([1, 2]) return")
    got = list(cache.match_prefix([1, 2, 3, 4, 5])[0])
    assert got == [10, 11, 12, 23], (
        f"match after re-inserts returned {got}: cached slots must "
        "keep their first values, the caller frees its duplicates"
    )
    expect(cache.total_size(), 4, "total_size()")


def test_evict_frees_the_least_recently_used_leaf_first(impl):
    cache = impl.RadixCache()
    cache.insert([1, 1, 1], [0, 1, 2])
    cache.insert([2, 2, 2], [3, 4, 5])
    cache.insert([3, 3, 3], [6, 7, 8])
    cache.match_prefix([1, 1, 1])  # a hit makes [1, 1, 1] the most recently used
    got = sorted(cache.evict(3))
    assert got == [3, 4, 5], (
        f"evict(3) freed {got}, expected [3, 4, 5]: [2, 2, 2] is the least "
        "recently used once match_prefix touched [1, 1, 1]"
    )
    cache.insert([3, 3, 3], [9, 9, 9])  # a repeated insert touches too
    expect(sorted(cache.evict(3)), [0, 1, 2], "evict(3) after re-inserting [3, 3, 3]")


def test_eviction_order_follows_every_node_on_the_walk(impl):
    """A walk touches every node it passes, not only the one it ends on: [1, 2, 3] is used by
    the insert of [1, 2, 3, 4] after [9] was, so once [4] is gone and [9] unlocked, [9] goes
    first (a cache stamping only [4] would free [1, 2, 3] as if unused since its insert)."""
    cache = impl.RadixCache()
    cache.insert([1, 2, 3], [10, 11, 12])
    cache.insert([9], [90])
    _, node = cache.match_prefix([9])
    cache.inc_lock(node)
    cache.insert([1, 2, 3, 4], [10, 11, 12, 13])
    expect(sorted(cache.evict(1)), [13], "evict(1) with [9] locked")
    cache.dec_lock(node)
    got = sorted(cache.evict(1))
    assert got == [90], (
        f"evict(1) after unlocking [9] freed {got}, expected [90]: [1, 2, 3] was last used by "
        "the insert of [1, 2, 3, 4], after the match of [9]; a walk must refresh every node "
        "it passes through"
    )


def test_only_the_matched_front_of_a_split_edge_is_touched(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2, 3, 4], [0, 1, 2, 3])
    cache.insert([5, 6], [4, 5])
    cache.match_prefix([1, 2])  # touches [1, 2] only; the tail [3, 4] was not used
    got = sorted(cache.evict(2))
    assert got == [2, 3], (
        f"evict(2) freed {got}, expected [2, 3]: after matching [1, 2] the "
        "split-off tail [3, 4] keeps its old access time and is the LRU leaf"
    )


def test_evict_frees_leaves_before_their_parent(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2, 3], [0, 1, 2])
    cache.insert([1, 2, 4], [10, 11, 12])  # [1, 2] -> {[3], [4]}
    expect(sorted(cache.evict(2)), [2, 12], "evict(2) on [1, 2] -> {[3], [4]} (two leaves)")
    expect(sizes(cache), (2, 2), "(total_size(), evictable_size()) after that")
    expect(sorted(cache.evict(1)), [0, 1], "evict(1) once [1, 2] is a leaf (freed whole)")
    cache.insert([1, 2, 3], [0, 1, 2])
    cache.insert([1, 2, 4], [10, 11, 12])
    got = sorted(cache.evict(3))
    assert got == [0, 1, 2, 12], f"evict(3) freed {got}: both leaves, then their parent"


def test_locked_nodes_and_their_ancestors_are_never_evicted(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2, 3], [0, 1, 2])
    cache.insert([1, 2, 4], [10, 11, 12])
    _, node = cache.match_prefix([1, 2])
    cache.inc_lock(node)
    expect(sizes(cache), (4, 2), "(total_size(), evictable_size()) with [1, 2] locked")
    got = sorted(cache.evict(100))
    assert got == [2, 12], (
        f"evict(100) with [1, 2] locked freed {got}: once its children are "
        "gone a locked node is a leaf, but still may not be evicted"
    )
    expect(
        (list(cache.evict(100)), *sizes(cache)),
        ([], 2, 0),
        "(evict(100), total_size(), evictable_size())",
    )
    cache.dec_lock(node)
    expect(cache.evictable_size(), 2, "evictable_size() after dec_lock")
    expect(sorted(cache.evict(100)), [0, 1], "evict(100) after dec_lock")


def test_lock_counts_nest(impl):
    cache = impl.RadixCache()
    cache.insert([4, 5, 6], [0, 1, 2])
    _, node = cache.match_prefix([4, 5, 6])
    cache.inc_lock(node)
    cache.inc_lock(node)
    cache.dec_lock(node)
    expect(
        (cache.evictable_size(), list(cache.evict(3))),
        (0, []),
        "(evictable_size(), evict(3)) after two inc_lock, one dec_lock",
    )
    cache.dec_lock(node)
    expect(
        (cache.evictable_size(), sorted(cache.evict(3))),
        (3, [0, 1, 2]),
        "(evictable_size(), evict(3)) once all unlocked",
    )


def test_dec_lock_below_zero_raises_and_changes_nothing(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2, 3], [0, 1, 2])
    _, node = cache.match_prefix([1, 2, 3])
    expect_lock_error(lambda: cache.dec_lock(node), "a node never locked")
    cache.inc_lock(node)
    cache.dec_lock(node)
    expect_lock_error(lambda: cache.dec_lock(node), "a node unlocked as often as locked")
    expect(sizes(cache), (3, 3), "(total_size(), evictable_size()) after the failed dec_lock")
    cache.inc_lock(node)
    expect(cache.evictable_size(), 0, "evictable_size() after inc_lock following a failed dec")


def test_a_node_handle_survives_a_split_above_it(impl):
    """Locking the node of [1..6], then matching [1, 2, 3], splits the edge above the locked
    node: the new front node must inherit the lock, and the handle must still end at token 6."""
    cache = impl.RadixCache()
    cache.insert([1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5])
    _, node = cache.match_prefix([1, 2, 3, 4, 5, 6])
    cache.inc_lock(node)
    cache.match_prefix([1, 2, 3])
    expect(
        (cache.evictable_size(), list(cache.evict(6))),
        (0, []),
        "(evictable_size(), evict(6)) with [1..6] locked, split at 3",
    )
    cache.dec_lock(node)
    assert cache.evictable_size() == 6, (
        f"after dec_lock of the handle on [1..6]: evictable_size() = {cache.evictable_size()}, "
        "expected 6: the front node must copy the lock count, and the handle keep its end"
    )
    expect(sorted(cache.evict(1)), [3, 4, 5], "evict(1): the tail [4, 5, 6] is the LRU leaf")
    expect_lock_error(lambda: cache.dec_lock(cache.match_prefix([1, 2, 3])[1]), "the split front")


def test_evict_on_an_empty_cache_or_for_zero_tokens_frees_nothing(impl):
    cache = impl.RadixCache()
    expect(
        (list(cache.evict(0)), list(cache.evict(5))),
        ([], []),
        "(evict(0), evict(5)) on an empty cache",
    )
    expect(sizes(cache), (0, 0), "(total_size(), evictable_size()) of an empty cache")
    cache.insert([1, 2], [0, 1])
    expect((list(cache.evict(0)), cache.total_size()), ([], 2), "(evict(0), total_size())")


def test_empty_key_matches_the_root(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2], [0, 1])
    values, root = cache.match_prefix([])
    expect(list(values), [], "match_prefix([]) values")
    cache.inc_lock(root)  # the root holds no tokens: locking it locks nothing
    expect(cache.evictable_size(), 2, "evictable_size() with the root locked")
    cache.dec_lock(root)
    expect((cache.insert([], []), cache.total_size()), (0, 2), "(insert([], []), total_size())")
    expect(list(cache.match_prefix([7, 7])[0]), [], "match_prefix of an uncached key")


def test_insert_rejects_a_value_of_another_length(impl):
    cache = impl.RadixCache()
    with pytest.raises(ImplError) as info:
        cache.insert([1, 2, 3], [0, 1])
    assert info.value.raised("ValueError"), f"expected ValueError, got {info.value}"
    expect(cache.total_size(), 0, "total_size() after a rejected insert")


def test_returned_values_are_the_callers_to_keep(impl):
    cache = impl.RadixCache()
    cache.insert([1, 2, 3], [0, 1, 2])
    values, _ = cache.match_prefix([1, 2, 3])
    values.append(99)  # the caller extends it with new slots, as a scheduler does
    values[0] = 42
    got = list(cache.match_prefix([1, 2, 3])[0])
    assert got == [0, 1, 2], f"editing a returned list changed the cache: now {got}"


def test_tuples_and_lists_are_the_same_key(impl):
    cache = impl.RadixCache()
    cache.insert((1, 2, 3), (0, 1, 2))
    expect(cache.insert([1, 2, 3, 4], [9, 9, 9, 3]), 3, "list insert after a tuple insert")
    expect(list(cache.match_prefix((1, 2, 3, 4))[0]), [0, 1, 2, 3], "tuple match values")


@given(seed=SEEDS)
def test_replays_a_chat_trace_like_the_reference(impl, hooks, seed):
    """The bench's scheduler loop (match, lock, allocate, evict when short, insert, unlock) on a
    small multi-turn trace: hits, insert counts, evictions and final sizes match the reference."""
    inputs = ref.make_inputs(PROBLEM.params["test_trace"], torch.Generator().manual_seed(seed))
    expected = hooks.replay(ref.RadixCache, **inputs)
    got = hooks.replay(lambda: impl.RadixCache(), **inputs)
    hooks.compare(got, expected, inputs)


def test_matches_a_plain_model_under_random_operations(impl):
    steps = PROBLEM.params["stateful_steps"]
    run_state_machine_as_test(
        make_machine(impl.RadixCache), settings=settings(stateful_step_count=steps)
    )
