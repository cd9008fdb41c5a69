"""One whole mock interview typed into a real terminal (tmux): plan, live countdown, the
terminal killed mid-session, resumed from a new one, submit, answer, pause, end, report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from grader.runtime.paths import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install -y tmux)"),
]


class Terminal:
    """A detached 80-column tmux session on a private socket."""

    def __init__(self, env: dict[str, str]):
        self.socket = f"dojo-test-{uuid.uuid4().hex[:8]}"  # a fresh server each time
        self._tmux("new-session", "-d", "-s", "dojo", "-x", "80", "-y", "50", "bash --norc -i")
        self.type(f"cd {ROOT} && export PS1='$ ' " + " ".join(f"{k}={v}" for k, v in env.items()))

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return proc.stdout

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-t", "dojo", "-l", line)
        self._tmux("send-keys", "-t", "dojo", "Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "dojo", "-S", "-200")

    def wait_for(self, text: str, timeout: float = 120) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.3)
        raise AssertionError(f"'{text}' did not appear within {timeout} s; screen:\n{screen}")

    def kill(self) -> None:
        self._tmux("kill-server")


def test_a_session_survives_a_killed_terminal_and_is_reported(tmp_path):
    dojo = f"{sys.executable} -m grader mock"
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    term = Terminal(env)
    try:
        term.type(f"{dojo} start --minutes 20 --problems rms_norm --questions 1 --seed 4")
        term.wait_for("start the clock?")
        term.type("y")
        term.wait_for("the clock is running")
        term.type(f"{dojo} --watch")
        term.wait_for("session ")
        term.kill()  # the terminal dies mid-countdown

        term = Terminal(env)
        term.type(dojo)
        term.wait_for("item 1/2")
        term.type(f"{dojo} submit")
        term.wait_for("not_attempted · score 0/100", timeout=240)
        term.type(f"{dojo} hint && {dojo} next && {dojo} answer")
        term.wait_for("end it with a line holding only '.'")
        for line in ("Fuse the residual add into the norm kernel:", "one read, one write.", "."):
            term.type(line)
        term.wait_for("covered (e.g. 1,3 / all / none)")
        term.type("1")
        term.wait_for("recorded: 1/")
        term.type(f"{dojo} pause && sleep 2 && {dojo} resume && {dojo} end")
        term.wait_for("added to `dojo quiz` as due cards")
        report = tmp_path / "report.json"
        term.type(f"{dojo} report --json > {report} && echo REPORT-$((6 * 7))")
        term.wait_for("REPORT-42")
    finally:
        term.kill()
    rep = json.loads(report.read_text())
    coding, concept = rep["items"]
    assert rep["ended"] and rep["paused_s"] >= 2 and rep["minutes"] == 20
    assert coding["verdict"] == "not_attempted" and coding["hints"] == 1 and coding["submits"] == 1
    assert concept["answered"] and len(concept["hit"]) == 1
    assert rep["quiz_cards"] == [concept["ref"]]
    assert os.path.isdir(tmp_path / "xdg" / "kernel-dojo" / "mock" / rep["session"] / "submits")
