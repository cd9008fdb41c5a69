"""Cheat (GPU bench): the CUDA-event time of a sample is measured in the worker, the attempt's own
process. This attempt replaces the worker's timing function and reports a third of its real
time, never past the roofline (1.15x copy bandwidth would be rejected as impossible). Caught by
the harness's clock (grader.perf.bound): a timed batch of calls on fresh inputs puts a floor
under the score, so the bench is "measured" at about the fraction its calls really reach (the
eager math below: the same as without the cheat, within the slack), with `clock: harness` on
the case and a note that the worker's events said ~3x less than a batch took."""

import sys

import torch

worker = sys.modules["__main__"]  # the worker runs as `python -m grader.harness.worker`
_real = worker.sample_gpu


def _flattering(call):
    ms, out = _real(call)
    return max(ms / 3, 2e-3), out


worker.sample_gpu = _flattering


def rms_norm(x, weight, eps=1e-6):
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)
