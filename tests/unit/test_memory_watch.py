"""The memory limit where RLIMIT_AS cannot apply (a CUDA worker): the watch stops a process
whose resident memory passes the limit, says so, and leaves a process under it alone."""

from __future__ import annotations

import subprocess
import sys

from grader.sandbox.process import MemoryWatch

TOUCH = "import time; b = bytearray({mb} << 20); time.sleep({sleep})"


def _watched(mb: int, limit_mb: int, sleep: float) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-c", TOUCH.format(mb=mb, sleep=sleep)])
    watch = MemoryWatch(proc, limit_mb)
    watch.start()
    code = proc.wait(timeout=60)
    watch.done.set()
    watch.join(5)
    return code, watch.reason


def test_a_process_over_the_limit_is_killed_with_the_reason():
    code, reason = _watched(mb=400, limit_mb=150, sleep=30)
    assert code == -9, code
    assert "MB of host memory, over the limit of 150 MB" in reason, reason


def test_a_process_under_the_limit_runs_to_its_end():
    code, reason = _watched(mb=20, limit_mb=400, sleep=0.3)
    assert code == 0 and reason == "", (code, reason)
