"""The interview clock as arithmetic on wall-clock seconds passed in: active time (pauses left
out), per-item time used, time left, and the warning level at 50%, 80% and 100% of a budget."""

from __future__ import annotations

WARN_AT = (0.5, 0.8, 1.0)
WARNINGS = (
    "",
    "half of the time is gone",
    "80% of the time is gone: start wrapping up",
    "time is up",
)


def active_s(started_at: float, paused_s: float, paused_at: float | None, now: float) -> float:
    """Seconds the clock has run: wall time since the start minus every pause, the open one
    included (a paused clock stands still)."""
    stop = paused_at if paused_at is not None else now
    return max(0.0, stop - started_at - paused_s)


def level(used_s: float, budget_s: float) -> int:
    """0 below half the budget, then 1 at 50%, 2 at 80%, 3 at time-out."""
    return sum(used_s >= f * budget_s for f in WARN_AT)


def fmt(seconds: float) -> str:
    """m:ss, with a leading '-' for an overrun (time left below zero)."""
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds) + 0.5)
    return f"{sign}{s // 60}:{s % 60:02d}"


def bar(used_s: float, budget_s: float, width: int = 20) -> str:
    """A text gauge of the budget used: '#' used, '.' left, '!' for an overrun."""
    frac = used_s / budget_s if budget_s else 1.0
    if frac > 1:
        return "#" * width + "!"
    filled = int(frac * width)
    return "#" * filled + "." * (width - filled)
