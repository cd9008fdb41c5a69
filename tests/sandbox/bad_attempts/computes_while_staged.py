"""Cheat: does the work while the bench hands over the inputs (an untimed request), so the timed
request returns at once. It reaches into the worker (the attempt's own process, so it can). The
bench charges the time its staging takes beyond the reference's back onto every sample."""

import importlib.util
import sys
from pathlib import Path

worker = sys.modules["__main__"]  # the worker runs as `python -m grader.harness.worker`

_path = Path(__file__).resolve().parents[3] / "solutions" / "spec_decode" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_spec_decode", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
verify, verify_greedy = _honest.verify, _honest.verify_greedy

_handle, _run = worker.Worker.handle, worker.Worker.run


def _early_handle(self, request):
    reply = _handle(self, request)
    if request[0] == "stage" and self.staged is not None:
        fn, args, kwargs = self.staged
        self.early = (fn, args, kwargs, fn(*args, **kwargs))  # the work, before the clock starts
    return reply


def _instant_run(self):
    early = getattr(self, "early", None)
    if early is None:
        return _run(self)
    self.staged, self.result, self.early = None, early, None


worker.Worker.handle, worker.Worker.run = _early_handle, _instant_run
