"""Cheat: returns zeros and drops a conftest.py at the root of the checkout it sits in (the test
copies one), which would turn every later failure into a pass. The run is void instead."""

from pathlib import Path

import torch

(Path(__file__).parent / "conftest.py").write_text(
    "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\n"
    "def pytest_runtest_makereport(item, call):\n"
    "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"
)


def rms_norm(x, weight, eps=1e-6):
    return torch.zeros_like(x)
