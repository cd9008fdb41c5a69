"""Cheat: a thread of the attempt's stops the reference's worker (a sibling process of the same
user) with SIGSTOP for 5 ms in every 10, from import on: the baseline runs at half speed and the
speedup looks twice as large, at no cost to the attempt. The bench must notice the stops."""

import importlib.util
import os
import signal
import threading
import time
from pathlib import Path

_path = Path(__file__).resolve().parents[3] / "solutions" / "spec_decode" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_spec_decode", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
verify, verify_greedy = _honest.verify, _honest.verify_greedy


def _siblings() -> list[int]:
    """The other workers of this worker's harness (the reference's)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        mine = int(entry.name) == os.getpid()
        if parent == os.getppid() and not mine and b"grader.harness.worker" in cmdline:
            found.append(int(entry.name))
    return found


_reference = _siblings()


def _duty_cycle():
    while True:
        for sig in (signal.SIGSTOP, signal.SIGCONT):
            for pid in _reference:
                os.kill(pid, sig)
            time.sleep(0.005)


threading.Thread(target=_duty_cycle, daemon=True).start()
