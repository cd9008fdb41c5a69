"""An attempt that prints without end (a debug print in a hot loop) is stopped at a file-size
limit instead of filling the disk, and the grader reads only the tail of what it printed."""

from __future__ import annotations

import subprocess
import sys
import tempfile

from grader.runtime.logs import read_tail
from grader.sandbox import process

FLOOD = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536 + '\\n')\n"


def test_a_printing_flood_stops_at_the_file_size_limit(monkeypatch):
    monkeypatch.setattr(process, "FILE_LIMIT_MB", 2)  # read in the child after the fork
    with tempfile.TemporaryFile("w+") as log:
        done = subprocess.run(  # noqa: PLW1509 - the grader's own preexec_fn
            [sys.executable, "-c", FLOOD],
            stdout=log,
            preexec_fn=process.limits_preexec(None, None),
            timeout=60,
            stderr=subprocess.PIPE,
        )
        assert done.returncode != 0 and b"File too large" in done.stderr  # OSError EFBIG
        assert log.seek(0, 2) <= 2 << 20


def test_read_tail_reads_the_end_and_leaves_the_position():
    with tempfile.TemporaryFile("w+") as log:
        log.write("a" * 100_000 + "é" + "the last line\n")
        log.seek(5)
        assert read_tail(log, 14) == "the last line\n"
        assert read_tail(log, 15) == "\ufffdthe last line\n"  # a cut inside 'é' is replaced
        assert read_tail(log, 10**9).startswith("a" * 100)
        assert log.tell() == 5
