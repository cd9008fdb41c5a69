"""The live line under `dojo check`: it names the check under way and counts the finished ones."""

from __future__ import annotations

import time

import pytest

from grader.cli import progress


class Status:
    """Stands in for rich's status: records the first line and every redraw."""

    def __init__(self, lines: list[str], text: str) -> None:
        self.lines = lines
        lines.append(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, text):
        self.lines.append(text)


@pytest.fixture
def lines(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(progress.err, "status", lambda text: Status(shown, text))
    monkeypatch.setattr(progress.err, "width", 200)
    return shown


def test_the_live_line_names_the_running_check_and_counts_finished_ones(lines):
    with progress.check_progress("checking rms_norm (attempt)") as on_event:
        on_event({"event": "start", "nodeid": "p/test_rms_norm.py::test_linear_in_weight[3]"})
        on_event({"event": "result", "phase": "call", "status": "passed"})
        on_event({"event": "start", "nodeid": "p/test_rms_norm.py::test_accepts_any_shape"})
        time.sleep(1.3)  # the line is redrawn every second
    assert lines[0].startswith("starting the sandbox (0 s) · 0 done")
    assert lines[-1].startswith("test_accepts_any_shape (1 s) · 1 done · 1 s in all · checking")


def test_the_live_line_shows_the_running_checks_budget(lines):
    limits = {"p/test_rms_norm.py::test_linear_in_weight[attempt]": 64.0}
    with progress.check_progress("checking rms_norm · budgets: x", limits.__getitem__) as on_event:
        on_event({"event": "start", "nodeid": "p/test_rms_norm.py::test_linear_in_weight[attempt]"})
        time.sleep(1.3)
    assert lines[-1].startswith("test_linear_in_weight (1 of 64 s) · 0 done · 1 s in all")
    assert lines[-1].endswith("checking rms_norm · budgets: x")


def test_the_live_line_fits_one_terminal_line(lines, monkeypatch):
    """A line wider than the terminal wraps, and the spinner redraws only its last row: the
    rest piles up on screen once a second."""
    monkeypatch.setattr(progress.err, "width", 40)
    with progress.check_progress("checking rms_norm (attempt) · budgets: calibrated"):
        pass
    assert len(lines[0]) == 37 and lines[0].endswith("…")
    assert progress.fit("short", 37) == "short"
