"""The suite's GPU etiquette under `pytest -n 8` on one GPU: a test marked `exclusive_gpu` (one
that times the GPU or asserts a rate) runs with no other test of this machine running beside it;
every other test shares. A readers-writer lock on two files in the temp dir (a turnstile, so a
waiting exclusive test is not starved by a stream of shared ones). Without CUDA it does nothing."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from grader.runtime.device import cuda_count

# one lock per set of visible GPUs: two suites on two GPUs of one host do not wait for each other
_GPUS = "".join(
    c for c in os.environ.get("CUDA_VISIBLE_DEVICES", "all") if c.isalnum() or c in ",-"
)
LOCKS = Path(tempfile.gettempdir()) / f"kernel-dojo-gpu-tests-{os.getuid()}-{_GPUS or 'none'}"


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a+") as f:
        fcntl.flock(f, mode)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def gpu_turn(exclusive: bool, locks: Path = LOCKS) -> Iterator[None]:
    """Shared by every test, exclusive for one: the turnstile is held while waiting for the
    lock exclusively, so tests arriving later queue behind the exclusive one."""
    locks.mkdir(exist_ok=True)
    gate, lock = locks / "turnstile", locks / "gpu"
    if exclusive:
        with _flock(gate, fcntl.LOCK_EX), _flock(lock, fcntl.LOCK_EX):
            yield
        return
    with _flock(gate, fcntl.LOCK_EX):
        pass
    with _flock(lock, fcntl.LOCK_SH):
        yield


@pytest.fixture(autouse=True)
def _gpu_etiquette(request: pytest.FixtureRequest) -> Iterator[None]:
    if cuda_count() == 0:
        yield
        return
    with gpu_turn(request.node.get_closest_marker("exclusive_gpu") is not None):
        yield
