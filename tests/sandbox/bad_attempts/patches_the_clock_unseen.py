"""Cheat: reports_its_own_time.py again, reaching the worker's module by names built at run time
so that no reading of the source finds them. The worker sealed its clock before importing the
attempt: its rule check names what was replaced, and it refuses to time the attempt."""

import torch

_sys = __import__("s" + "ys")
_worker = getattr(_sys, "mod" + "ules")["__" + "main" + "__"]
_real = getattr(_worker, "sample" + "_gpu")


def _flattering(call):
    ms, out = _real(call)
    return max(ms / 3, 2e-3), out


setattr(_worker, "sample" + "_gpu", _flattering)


def rms_norm(x, weight, eps=1e-6):
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)
