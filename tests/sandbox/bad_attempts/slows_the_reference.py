"""Cheat: the reference's worker is a sibling process of the same user, so the attempt lowers its
priority (nice 19) at import: on a busy machine the baseline crawls and the speedup looks large.
The bench must notice that the reference's process was tampered with."""

import importlib.util
import os
from pathlib import Path

_path = Path(__file__).resolve().parents[3] / "solutions" / "spec_decode" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_spec_decode", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
verify, verify_greedy = _honest.verify, _honest.verify_greedy


def siblings() -> list[int]:
    """The other workers of this worker's harness."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        mine = int(entry.name) == os.getpid()
        if parent == os.getppid() and not mine and b"grader.harness.worker" in cmdline:
            found.append(int(entry.name))
    return found


for pid in siblings():
    os.setpriority(os.PRIO_PROCESS, pid, 19)
