"""The live line under a running check: which check is running, for how long and against which
budget, refreshed every second on stderr (a terminal only; through a pipe nothing is drawn)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from grader.cli.common import err


@contextlib.contextmanager
def check_progress(
    label: str, limit_of: Callable[[str], float] | None = None
) -> Iterator[Callable[[dict], None]]:
    """Yields the on_event callback for run_check; `limit_of(nodeid)` is a check's budget."""
    began = time.monotonic()
    state = {"check": "starting the sandbox", "since": began, "done": 0, "limit": ""}

    def on_event(record: dict) -> None:
        if record["event"] == "start":
            name = record["nodeid"].rsplit("::", 1)[-1]
            limit = f" of {limit_of(record['nodeid']):.0f}" if limit_of else ""
            state.update(check=name.split("[", 1)[0], since=time.monotonic(), limit=limit)
        elif record["event"] == "result" and record["phase"] == "call":
            state["done"] += 1

    def line() -> str:
        now = time.monotonic()
        text = (  # the running check first: a long label is what a narrow terminal cuts
            f"{state['check']} ({now - state['since']:.0f}{state['limit']} s) · "
            f"{state['done']} done · "
            f"{now - began:.0f} s in all · {label}"
        )
        return fit(text, err.width - 3)  # one line beside the spinner: a wrapped one repeats

    with err.status(line()) as status:
        stop = threading.Event()
        ticker = threading.Thread(target=_tick, args=(stop, status, line), daemon=True)
        ticker.start()
        try:
            yield on_event
        finally:
            stop.set()
            ticker.join()


def _tick(stop: threading.Event, status, line: Callable[[], str]) -> None:
    while not stop.wait(1.0):
        status.update(line())


def fit(text: str, width: int) -> str:
    """text cut to width columns, with an ellipsis where it was cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
