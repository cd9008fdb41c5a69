"""The line of a process log worth showing a person: the last error line, else the last line;
and a log's tail, read without loading the rest (an attempt may print gigabytes)."""

import os
from typing import IO


def tail_line(log: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["(no output)"])[-1][:limit]


def read_tail(log: IO, size: int) -> str:
    """The last `size` bytes of an open log file, decoded leniently (a cut may split a
    character); the file's position is left alone."""
    log.flush()
    fd = log.fileno()
    end = os.fstat(fd).st_size
    return os.pread(fd, size, max(0, end - size)).decode(errors="replace")
