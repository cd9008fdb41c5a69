"""Cheat: rewrites the user's progress store (its path is left next to this file by the test)
to record a pass. Only the grader writes the store: the file is restored after the run."""

from pathlib import Path

import torch

target = Path(__file__).with_suffix(".target")
if target.is_file():
    Path(target.read_text()).write_text('{"rms_norm": {"attempt": {"verdict": "passed"}}}')


def rms_norm(x, weight, eps=1e-6):
    return torch.zeros_like(x)
