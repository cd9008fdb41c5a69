"""Cheat, first step: the worker runs as the same user as the harness that judges it, so it could
read the harness's memory through /proc/<pid>/mem (the key that signs the verdict records, the
expected outputs) or open its pipes through /proc/<pid>/fd. This attempt answers honestly only
if it can read a byte of its harness's memory; the harness must not be readable: it makes itself
non-dumpable, which closes /proc/<pid>/mem, /proc/<pid>/fd and ptrace to other processes."""

import os

import torch


def _peek_at_the_harness() -> bytes:
    pid = os.getppid()
    with open(f"/proc/{pid}/maps") as maps:
        start = next(int(line.split("-")[0], 16) for line in maps if " r" in line)
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(start)
        return mem.read(1)


_peek_at_the_harness()  # PermissionError where the harness is protected


def rms_norm(x, weight, eps=1e-6):
    xf = x.float()  # (..., H)
    return weight * (xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)
