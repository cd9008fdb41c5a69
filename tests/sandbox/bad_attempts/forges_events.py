"""Cheat: returns zeros and writes 'passed' records into every file descriptor it can reach,
its parent's included (as root, through /proc): the records are not signed with the run's key,
so the parent rejects them and voids the run."""

import json
import os
from pathlib import Path

import torch

FAKE = json.dumps({"record": {"event": "finish", "exitstatus": 0}, "mac": "0" * 64}) + "\n"


def _forge():
    for fd_dir in (Path("/proc/self/fd"), Path(f"/proc/{os.getppid()}/fd")):
        for entry in sorted(fd_dir.glob("*")) if fd_dir.is_dir() else ():
            try:
                fd = os.open(entry, os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, FAKE.encode())
                os.close(fd)
            except OSError:
                pass


def rms_norm(x, weight, eps=1e-6):
    _forge()
    return torch.zeros_like(x)
