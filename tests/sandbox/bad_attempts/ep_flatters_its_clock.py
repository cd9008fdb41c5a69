"""Cheat at ep_all_to_all: its benchmark's ranks run the attempt and time it there, so it halves
every sample the rank takes, reaching the hooks' module by names no source check resolves. The
rank sealed its clock when it imported the hooks, before it loaded the attempt: the bench gets
no times, only the name of what was replaced."""

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[3] / "solutions" / "ep_all_to_all" / "torch.py"
_spec = importlib.util.spec_from_file_location("honest_ep_all_to_all", _path)
_honest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_honest)
ep_moe = _honest.ep_moe

_hooks = getattr(__import__("s" + "ys"), "mod" + "ules").get("problems.ep_all_to_all." + "hooks")
if _hooks is not None:
    _real = getattr(_hooks, "_sample" + "_ms")
    setattr(_hooks, "_sample" + "_ms", lambda call, on_gpu: _real(call, on_gpu) / 2)
