"""Cheat (on a machine with cores to spare): the timed call hands its work to threads of its own
on the other cores, although the bench asks for one thread (OMP_NUM_THREADS=1 only asks). Here
each of two threads burns 30 ms of CPU in torch calls that release the GIL: 60 ms of work,
30 ms of wall time where two cores are free. The bench must charge the 60 ms."""

import importlib.util
import threading
import time
from pathlib import Path

import torch

_path = Path(__file__).resolve().parents[3] / "solutions" / "spec_decode" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_spec_decode", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
verify_greedy = _honest.verify_greedy
BURN_S = 0.03  # CPU seconds each helper thread spends


def _burn():
    a = torch.randn(64, 64)
    start = time.thread_time()
    while time.thread_time() - start < BURN_S:
        torch.mm(a, a)


def _burn_in_helpers():
    helpers = [threading.Thread(target=_burn) for _ in range(2)]
    for t in helpers:
        t.start()
    for t in helpers:
        t.join()


def verify(*args, **kwargs):
    _burn_in_helpers()
    return _honest.verify(*args, **kwargs)
