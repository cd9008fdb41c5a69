"""Cheat: starts a grandchild that double-forks and calls setsid, so that killing the process
group would miss it; it writes its pid next to this file and sleeps. The grader reaps it."""

import os
import time
from pathlib import Path

import torch

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        Path(__file__).with_suffix(".pid").write_text(str(os.getpid()))
        time.sleep(3600)
    os._exit(0)


def rms_norm(x, weight, eps=1e-6):
    return torch.zeros_like(x)
