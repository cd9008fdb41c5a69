"""The check process's report to the parent: one JSON record a line over an inherited pipe
(not a file another process can find and write), each line signed with a per-run key that the
harness reads from a second pipe and keeps in memory only. The parent reads the records as they
come (live progress, per-check time limits) and accepts only signed, size-limited records of
the known shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from grader.sandbox.process import undumpable
from grader.sandbox.verdict import VERDICTS

MAX_LINE = 256 * 1024
MAX_RECORDS = 100_000
PHASES = ("setup", "call", "teardown")
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "start": {"nodeid": (str,)},
    "result": {
        "nodeid": (str,),
        "phase": (str,),
        "test": (str,),
        "static": (bool,),
        "status": (str,),
        "message": (str,),
    },
    "finish": {"exitstatus": (int,)},
    "bench": {"result": (dict,)},
}


def sign(key: bytes, record: dict[str, Any]) -> str:
    """The line the harness writes: the record with its HMAC-SHA256 under `mac`."""
    body = json.dumps(record, sort_keys=True)
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"record": record, "mac": mac})


class EventStream:
    """The parent's end: a pipe for the child, a reader thread, the accepted records."""

    def __init__(self, on_event: Callable[[dict], None] | None = None):
        undumpable()  # the key, and the read end of the records' pipe, stay this process's own
        self.key = secrets.token_bytes(32)
        self.read_fd, self.write_fd = os.pipe()
        self.key_read_fd, key_write = os.pipe()
        os.write(key_write, self.key.hex().encode())  # 64 bytes: far below a pipe's buffer
        os.close(key_write)
        self.events: list[dict] = []
        self.rejected: str | None = None  # why the first bad line was refused
        self.running: tuple[str, float] | None = None  # (nodeid, since) of the check under way
        self._on_event = on_event
        self._thread = threading.Thread(target=self._read, daemon=True)

    @property
    def child_fds(self) -> tuple[int, int]:
        return self.write_fd, self.key_read_fd

    @property
    def argument(self) -> str:
        return f"fd:{self.write_fd}:{self.key_read_fd}"

    def start(self) -> None:
        """Call once the child has inherited its two fds: the parent's copies are closed here."""
        os.close(self.write_fd)
        os.close(self.key_read_fd)
        self._thread.start()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def _read(self) -> None:
        with os.fdopen(self.read_fd, "rb") as pipe:
            for raw in pipe:
                if len(raw) > MAX_LINE or len(self.events) >= MAX_RECORDS:
                    self._reject("a report line over the size limit")
                    continue
                record = self._verify(raw)
                if record is not None:
                    self._accept(record)

    def _verify(self, raw: bytes) -> dict | None:
        try:
            outer = json.loads(raw)
            record, mac = outer["record"], outer["mac"]
            body = json.dumps(record, sort_keys=True)
        except (ValueError, KeyError, TypeError):
            return self._reject("a report line that is not a signed record")
        want = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        if not (isinstance(mac, str) and hmac.compare_digest(mac, want)):
            return self._reject("a report line with a wrong signature (not from the harness)")
        problem = _schema_problem(record)
        return self._reject(problem) if problem else record

    def _accept(self, record: dict) -> None:
        self.events.append(record)
        if record["event"] == "start":
            self.running = (record["nodeid"], time.monotonic())
        elif record["event"] == "result" and record["phase"] == "teardown":
            self.running = None
        if self._on_event is not None:
            self._on_event(record)

    def _reject(self, why: str) -> None:
        if self.rejected is None:
            self.rejected = why
        return None


def _schema_problem(record: Any) -> str | None:
    if not isinstance(record, dict) or record.get("event") not in _FIELDS:
        return "a report record of an unknown kind"
    for key, types in _FIELDS[record["event"]].items():
        if not isinstance(record.get(key), types):
            return f"a {record['event']} record whose '{key}' is missing or mistyped"
    if record["event"] == "result":
        if record["phase"] not in PHASES or record["status"] not in VERDICTS:
            return f"a result record with phase {record['phase']!r}, status {record['status']!r}"
        seconds = record.get("seconds", 0.0)
        if not (isinstance(seconds, (int, float)) and 0 <= seconds < 1e7):
            return "a result record whose seconds are not a duration"
        notes = record.get("notes", [])
        if not (isinstance(notes, list) and all(isinstance(n, str) for n in notes)):
            return "a result record whose notes are not strings"
    return None
