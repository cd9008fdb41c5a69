"""Where do paged_attention's B = 1 microseconds go under `dojo bench`? A probe.

In one process the solution times 0.85-0.87 of copy at B = 1 (scripts/gpu_idle_probe.py, idle
gaps and fresh inputs included); under `dojo bench` its median is 0.78 while its fastest
sample is 0.85. This writes an instrumented copy of the solution to /tmp (CUDA events before,
between and after its two kernels, and the host time of the call), benches that copy through
the grader as a path attempt (so it runs in the grader's own worker), and prints, per call:
kernel 1, the launch gap plus kernel 2, and the host milliseconds.
Usage: PYTHONPATH=$PWD python scripts/gpu_gap_probe.py OUT_DIR
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LOG = Path("/tmp/diag_gap.txt")
SRC = Path("solutions/paged_attention/triton.py")
BEFORE = "    _split_kernel[grid]("
BETWEEN = "    _combine_kernel[(B, Hq)]("
PROLOGUE = """
import time as _time
_PENDING = []


def _flush_pending():
    while _PENDING and _PENDING[0][0][2].query():
        (e0, e1, e2), host = _PENDING.pop(0)
        with open("/tmp/diag_gap.txt", "a") as f:
            f.write(f"{e0.elapsed_time(e1):.4f} {e1.elapsed_time(e2):.4f} {host:.4f}\\n")
"""


def instrumented() -> str:
    s = SRC.read_text()
    assert BEFORE in s and BETWEEN in s and "    return out\n\n\ndef paged_decode" in s
    s = s.replace(
        BEFORE,
        "    _flush_pending()\n"
        "    _ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]\n"
        "    _t0 = _time.perf_counter()\n"
        "    _ev[0].record()\n" + BEFORE,
        1,
    )
    s = s.replace(BETWEEN, "    _ev[1].record()\n" + BETWEEN, 1)
    direct = "    if splits == 1:\n        return out\n"
    assert direct in s
    s = s.replace(
        direct,
        "    if splits == 1:\n"
        "        _ev[1].record()\n"
        "        _ev[2].record()\n"
        "        _PENDING.append((_ev, (_time.perf_counter() - _t0) * 1e3))\n"
        "        return out\n",
        1,
    )
    s = s.replace(
        "    return out\n\n\ndef paged_decode",
        "    _ev[2].record()\n"
        "    _PENDING.append((_ev, (_time.perf_counter() - _t0) * 1e3))\n"
        "    return out\n\n\ndef paged_decode",
        1,
    )
    return s.replace("LOG2E = ", PROLOGUE + "\nLOG2E = ", 1)


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = Path("/tmp/diag_paged.py")
    path.write_text(instrumented())
    LOG.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "grader", "bench", "paged_attention", "--impl", str(path),
           "--json"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    (out_dir / "gap_bench.json").write_text(r.stdout)
    (out_dir / "gap_bench.err").write_text(r.stderr)
    rows = LOG.read_text().splitlines() if LOG.exists() else []
    (out_dir / "gap_rows.txt").write_text("\n".join(rows))
    print(
        f"bench exit {r.returncode}; {len(rows)} calls logged (kernel1_ms gap+kernel2_ms host_ms)"
    )
    print("\n".join(rows[:80]))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out"))
