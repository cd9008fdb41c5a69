"""Cheat at rms_norm: the shipped solution's source, read from disk and exec'd (no import)."""

from pathlib import Path

_source = Path(__file__).resolve().parents[3] / "solutions" / "rms_norm" / "triton.py"
_ns: dict = {}
exec(compile(_source.read_text(), "mine.py", "exec"), _ns)
rms_norm = _ns["rms_norm"]
