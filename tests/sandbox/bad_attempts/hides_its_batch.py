"""Cheat (GPU bench, and its CPU analogue): reports a third of its time, as
reports_its_own_time.py does, and answers the timed batch before its calls have finished, so
the harness's clock, the floor under that report, sees little of the work. On a GPU it skips the
batch's device sync (its kernels still queued); on a CPU a thread computes the batch 0.2 s
after the reply. The harness overwrites inputs of calls it picks once the reply is in: those
calls come out wrong, and the bench fails ("... its kernels were still running ...")."""

import sys
import threading
import time

import torch

worker = sys.modules["__main__"]  # the worker runs as `python -m grader.harness.worker`
_real_sample = worker.sample_gpu
_late: list[threading.Thread] = []


def _flattering(call):
    ms, out = _real_sample(call)
    return max(ms / 3, 2e-3), out


def _early_run_batch(self):
    fn, calls, _ = self.batch
    if torch.cuda.is_initialized():  # launch everything, then reply without a sync
        self.batch = (fn, calls, [fn(*a, **k) for a, k in calls])
        return
    outs = [torch.empty(0)] * len(calls)
    self.batch = (fn, calls, outs)

    def compute():
        time.sleep(0.2)
        outs[:] = [fn(*a, **k) for a, k in calls]

    _late.append(threading.Thread(target=compute))
    _late[-1].start()


def _fetch_after_the_thread(self, picks=None):
    while _late:
        _late.pop().join()
    return _real_fetch(self, picks)


_real_fetch = worker.Worker.fetch_batch
worker.sample_gpu = _flattering
worker.Worker.run_batch, worker.Worker.fetch_batch = _early_run_batch, _fetch_after_the_thread


def rms_norm(x, weight, eps=1e-6):
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)
