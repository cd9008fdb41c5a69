"""Cheat: the timed request returns at once and the work happens when the harness collects the
output (an untimed request). The bench charges the time its fetch takes beyond the reference's
back onto every sample."""

import importlib.util
import sys
from pathlib import Path

worker = sys.modules["__main__"]  # the worker runs as `python -m grader.harness.worker`

_path = Path(__file__).resolve().parents[3] / "solutions" / "spec_decode" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_spec_decode", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
verify, verify_greedy = _honest.verify, _honest.verify_greedy

_fetch = worker.Worker.fetch


def _lazy_run(self):
    fn, args, kwargs = self.staged
    self.staged, self.result = None, (fn, args, kwargs, None)


def _late_fetch(self):
    fn, args, kwargs, _ = self.result
    self.result = (fn, args, kwargs, fn(*args, **kwargs))  # the work, after the clock stopped
    return _fetch(self)


worker.Worker.run, worker.Worker.fetch = _lazy_run, _late_fetch
