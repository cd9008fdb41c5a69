"""Cheat (GPU bench, and its CPU analogue): computes a timed batch's outputs the moment its inputs
are staged, outside the harness's clock, and answers the timed request with them at once. The
harness stages empty buffers and fills them only after the staging reply, so what it computed
then is garbage: the bench fails with "elements differ"."""

import sys

import torch

worker = sys.modules["__main__"]  # the worker runs as `python -m grader.harness.worker`
_real_handle = worker.Worker.handle


def _handle(self, request):
    reply = _real_handle(self, request)
    if request[0] == "stage_batch":
        fn, calls, _ = self.batch
        ahead = [fn(*args, **kw) for args, kw in calls]  # on the buffers as staged
        if torch.cuda.is_initialized():
            torch.cuda.synchronize()  # done before the staging reply, as a cheat would want
        self.batch = (fn, calls, ahead)
    return reply


def _run_batch(self):
    pass  # the outputs are already there


worker.Worker.handle, worker.Worker.run_batch = _handle, _run_batch


def rms_norm(x, weight, eps=1e-6):
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)
