"""Cheat (GPU bench): the CUDA-event time of a sample is measured in the worker, the attempt's own
process, and the harness only checks it is no more than its own clock around the request (which
also holds the L2 flush, a ~1 ms spin and the transfers). This attempt replaces the worker's
timing function and reports a third of its real time, never past the roofline (1.15x copy
bandwidth would be rejected as impossible): an honest kernel's score, tripled. The source check
names its reach into the worker's module (`sys.modules["__main__"]`); the worker's seal, taken
before the attempt was imported, names the replaced function and refuses to time it
(patches_the_clock_unseen.py hides the reach from the source check)."""

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
