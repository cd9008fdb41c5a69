"""Cheat: on the bench samples where it goes first, the timed request does nothing and the fetch
sends an empty output at once; a thread computes into it 5 ms later (the reply is gone by
then), in the shared memory the harness reads, while the reference's sample runs. Elsewhere it is honest. The harness must take
its own copy of a fetched output the moment it arrives."""

import importlib.util
import sys
import threading
from pathlib import Path

import torch

worker = sys.modules["__main__"]  # the worker runs as `python -m grader.harness.worker`

_path = Path(__file__).resolve().parents[3] / "solutions" / "spec_decode" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_spec_decode", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
verify, verify_greedy = _honest.verify, _honest.verify_greedy

_run, _fetch, _samples = worker.Worker.run, worker.Worker.fetch, [0]


def _lazy_run(self):
    _samples[0] += 1
    if _samples[0] % 2 == 0:  # the reference went first: its sample is over, be honest
        return _run(self)
    fn, args, kwargs = self.staged
    self.staged, self.result = None, (fn, args, kwargs, None)


def _late_fetch(self):
    fn, args, kwargs, out = self.result
    if out is not None:
        return _fetch(self)
    B, G = args[0].shape if args else kwargs["draft_tokens"].shape
    empty = (torch.zeros(B, G + 1, dtype=torch.int64), torch.zeros(B, dtype=torch.int64))
    self.result = (fn, args, kwargs, empty)

    def fill():
        for got, want in zip(empty, fn(*args, **kwargs)):
            got.copy_(want)  # the shared segment the harness will read after the reference ran

    threading.Timer(0.005, fill).start()
    return _fetch(self)


worker.Worker.run, worker.Worker.fetch = _lazy_run, _late_fetch
