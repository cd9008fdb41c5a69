"""Cheat: raises pytest's own Skipped with the grader's needs-GPU wording, hoping the check is
reported as needing a GPU instead of failing. In the worker it is just an exception."""

import pytest


def rms_norm(x, weight, eps=1e-6):
    raise pytest.skip.Exception("needs GPU: rms_norm correctness runs on a CUDA GPU")
