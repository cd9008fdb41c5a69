"""The worker's seal (grader/harness/seal.py): whatever an attempt rebinds among the names the
worker's clock and replies go through, and only that, is named until it is put back."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import grader.harness.worker as worker
from grader.harness.seal import Seal
from grader.runtime import timing, wire

# (the seal's name, the namespace that binds it, the key there): a sample of every kind
SPACES = [(f"the worker's {k}", vars(worker), k) for k in ("sample_gpu", "own_memory", "channel")]
SPACES += [(f"grader.runtime.timing.{k}", vars(timing), k) for k in ("sample_gpu", "SPIN_CYCLES")]
SPACES += [(f"grader.runtime.timing.{k}", vars(timing), k) for k in ("_flush_buffer", "time")]
SPACES += [(f"grader.runtime.wire.{k}", vars(wire), k) for k in ("send", "receive_trusted")]
OWNERS = [("torch.cuda.Event.elapsed_time", torch.cuda.Event, "elapsed_time")]
OWNERS += [
    ("torch.cuda.synchronize", torch.cuda, "synchronize"),
    ("time.perf_counter", time, "perf_counter"),
]
OWNERS += [("the worker's Worker.handle", worker.Worker, "handle")]


class Tampering(RuleBasedStateMachine):
    """Rebind and put back sealed names in any order: the seal names exactly
    the ones changed now."""

    def __init__(self):
        super().__init__()
        self.seal = Seal.worker(vars(worker), worker.Worker)
        self.saved: dict[str, Callable[[], None]] = {}  # name -> what puts it back

    @rule(i=st.integers(0, len(SPACES) - 1))
    def rebind_in_a_namespace(self, i):
        name, space, key = SPACES[i]
        if name not in self.saved:
            old = space[key]
            self.saved[name] = lambda: space.__setitem__(key, old)
            space[key] = 7 if isinstance(old, int) else (lambda *a, **k: None)

    @rule(i=st.integers(0, len(OWNERS) - 1))
    def rebind_an_attribute(self, i):
        name, owner, attr = OWNERS[i]
        if name not in self.saved:
            old = owner.__dict__[attr]
            self.saved[name] = lambda: setattr(owner, attr, old)
            setattr(owner, attr, lambda *a, **k: 0.001)

    @precondition(lambda self: self.saved)
    @rule(data=st.data())
    def put_one_back(self, data):
        name = data.draw(st.sampled_from(sorted(self.saved)))
        self.saved.pop(name)()

    @invariant()
    def names_exactly_what_changed(self):
        assert self.seal.broken() == sorted(self.saved), (self.seal.broken(), sorted(self.saved))

    def teardown(self):
        for restore in self.saved.values():
            restore()


TestTampering = Tampering.TestCase


def test_an_untouched_worker_is_sealed_and_intact():
    seal = Seal.worker(vars(worker), worker.Worker)
    assert seal.broken() == []
    names = seal._marks
    assert {"the worker's sample_gpu", "grader.runtime.timing.sample_gpu"} <= set(names)
    assert {"torch.cuda.Event.elapsed_time", "the worker's Worker.handle"} <= set(names)


def test_swapping_a_functions_code_in_place_is_named_in_both_bindings():
    seal, fn = Seal.worker(vars(worker), worker.Worker), timing.sample_gpu
    code = fn.__code__
    fn.__code__ = (lambda call: (1e-3, call())).__code__
    try:
        assert seal.broken() == ["grader.runtime.timing.sample_gpu", "the worker's sample_gpu"]
    finally:
        fn.__code__ = code
    assert seal.broken() == []
