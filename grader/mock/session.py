"""A running mock interview as a frozen value: each action (pause, next, submit, ...) is a plain
function of the session and the time that returns the next session; the store writes each one
atomically to data_dir/mock/<id>/session.json, so a killed terminal loses nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import store
from grader.mock import clock
from grader.mock.plan import Item

SCHEMA = 1


class MockError(ValueError):
    """An action that does not apply now, or an unreadable session; str() is the one line."""


@dataclass(frozen=True, slots=True)
class Submit:
    at_s: float  # item time when submitted
    verdict: str
    score: int | None
    tier: str | None
    measured: bool  # perf was measured on this machine (tier None then means below bronze)
    message: str
    snapshot: str  # folder of the graded files, relative to the session folder


@dataclass(frozen=True, slots=True)
class ItemState:
    item: Item
    start_active: float | None = None  # active seconds when it became current
    used_s: float = 0.0  # time spent, counted when it is left
    hints: int = 0
    submits: tuple[Submit, ...] = ()
    answer: str | None = None
    points: tuple[str, ...] = ()  # the rubric's key points, as shown when answered
    hits: tuple[int, ...] = ()  # key points the user marked as covered (0-based)
    precheck: tuple[bool, ...] = ()  # the keyword assist shown beside each key point
    timed_out: bool = False
    done: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    minutes: int
    seed: int
    strict: bool
    items: tuple[ItemState, ...]
    started_at: float
    current: int = 0
    paused_at: float | None = None
    paused_s: float = 0.0
    ended_at: float | None = None
    timed_out_at: float | None = None
    handed_off: tuple[str, ...] = ()  # question ids sent to the quiz deck
    options: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError("a session needs at least one item")
        if not 0 <= self.current < len(self.items):
            raise ValueError(f"current item {self.current} out of range")

    @property
    def total_s(self) -> int:
        return sum(i.item.budget_s for i in self.items)

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def active(self, now: float) -> float:
        stop = self.ended_at if self.ended_at is not None else now
        return clock.active_s(self.started_at, self.paused_s, self.paused_at, stop)

    def item_used(self, index: int, now: float) -> float:
        st = self.items[index]
        live = index == self.current and st.start_active is not None and not st.done
        return st.used_s + (self.active(now) - st.start_active if live else 0.0)


def start(
    plan: tuple[Item, ...], sid: str, now: float, *, seed: int, strict: bool, **opts
) -> Session:
    items = tuple(ItemState(it) for it in plan)
    items = (replace(items[0], start_active=0.0), *items[1:])
    minutes = round(sum(it.budget_s for it in plan) / 60)
    return Session(sid, minutes, seed, strict, items, now, options=opts)


def observe(s: Session, now: float) -> Session:
    """Record time-outs seen at `now`; in strict mode a session time-out ends the session."""
    if not s.running:
        return s
    i = s.current
    st = s.items[i]
    if not st.timed_out and not st.done and s.item_used(i, now) >= st.item.budget_s:
        s = _set_item(s, i, timed_out=True)
    if s.timed_out_at is None and s.active(now) >= s.total_s:
        s = replace(s, timed_out_at=now)
        if s.strict:
            s = end(s, now)
    return s


def _set_item(s: Session, i: int, **changes) -> Session:
    items = list(s.items)
    items[i] = replace(items[i], **changes)
    return replace(s, items=tuple(items))


def _require_running(s: Session, now: float, action: str) -> None:
    if not s.running:
        raise MockError(f"session {s.id} has ended: `dojo mock report` shows how it went")
    if s.paused_at is not None and action not in ("resume", "end"):
        raise MockError(f"the session is paused: `dojo mock resume` before `{action}`")


def pause(s: Session, now: float) -> Session:
    _require_running(s, now, "pause")
    if s.strict:
        raise MockError("a --strict session cannot be paused")
    return replace(s, paused_at=now)


def resume(s: Session, now: float) -> Session:
    _require_running(s, now, "resume")
    if s.paused_at is None:
        raise MockError("the session is not paused")
    return replace(s, paused_s=s.paused_s + (now - s.paused_at), paused_at=None)


def advance(s: Session, now: float) -> Session:
    """Leave the current item (its time is counted) and start the next one."""
    _require_running(s, now, "next")
    i = s.current
    if i + 1 >= len(s.items):
        raise MockError("this is the last item: `dojo mock end` finishes the session")
    s = _set_item(s, i, used_s=s.item_used(i, now), done=True)
    s = _set_item(s, i + 1, start_active=s.active(now))
    return replace(s, current=i + 1)


def end(s: Session, now: float) -> Session:
    if not s.running:
        raise MockError(f"session {s.id} has already ended")
    if s.paused_at is not None:
        s = resume(s, now)
    i = s.current
    s = _set_item(s, i, used_s=s.item_used(i, now), done=True)
    return replace(s, ended_at=now)


def hint(s: Session, now: float, available: int) -> tuple[Session, int]:
    """One more hint of the current item's ladder; returns the session and the hint's index."""
    _require_running(s, now, "hint")
    if s.strict:
        raise MockError("a --strict session has no hints")
    st = s.items[s.current]
    if st.hints >= available:
        raise MockError(f"no more hints for {st.item.ref} ({available} in its ladder)")
    return _set_item(s, s.current, hints=st.hints + 1), st.hints


def expect(s: Session, now: float, kind: str) -> ItemState:
    """The current item, if it is running and of this kind (coding: submit; concept: answer)."""
    _require_running(s, now, "submit" if kind == "coding" else "answer")
    st = s.items[s.current]
    if st.item.kind != kind:
        if kind == "coding":
            raise MockError(f"{st.item.ref} is a question: `dojo mock answer` it")
        raise MockError(f"{st.item.ref} is a coding problem: `dojo mock submit` grades it")
    return st


def record_submit(s: Session, now: float, **result) -> Session:
    st = expect(s, now, "coding")
    sub = Submit(at_s=round(s.item_used(s.current, now), 1), **result)
    return _set_item(s, s.current, submits=(*st.submits, sub))


def record_answer(s: Session, now: float, answer: str, points, hits, precheck) -> Session:
    expect(s, now, "concept")
    return _set_item(
        s,
        s.current,
        answer=answer,
        points=tuple(points),
        hits=tuple(sorted(set(hits))),
        precheck=tuple(precheck),
    )


# --- the store --------------------------------------------------------------------------------


def sessions_dir(base: Path | None = None) -> Path:
    return store.data_dir(base) / "mock"


def session_path(sid: str, base: Path | None = None) -> Path:
    return sessions_dir(base) / sid / "session.json"


def new_id(now: float, base: Path | None = None) -> str:
    stem = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    sid, n = stem, 1
    while (sessions_dir(base) / sid).exists():
        n += 1
        sid = f"{stem}-{n}"
    return sid


def save(s: Session, base: Path | None = None) -> None:
    store.save_json(session_path(s.id, base), asdict(s))


def from_json(raw: Any) -> Session:
    """A Session from its JSON; MockError for a newer schema, ValueError-family when corrupt."""
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    if isinstance(raw.get("schema"), int) and raw["schema"] > SCHEMA:
        raise MockError(
            f"session {raw.get('id')} was written by a newer Kernel Dojo (schema "
            f"{raw['schema']} > {SCHEMA}): update this checkout to read it"
        )
    items = tuple(
        ItemState(
            **{
                **st,
                "item": Item(**st["item"]),
                "submits": tuple(Submit(**x) for x in st["submits"]),
                "points": tuple(st["points"]),
                "hits": tuple(st["hits"]),
                "precheck": tuple(st["precheck"]),
            }
        )
        for st in raw["items"]
    )
    return Session(**{**raw, "items": items, "handed_off": tuple(raw["handed_off"])})


def load(path: Path, warn: Callable[[str], None]) -> Session | None:
    """The session in `path`; None (with one warning, the file set aside) when it is corrupt."""
    raw = store.load_json(path, None, warn)
    if raw is None:
        return None
    try:
        return from_json(raw)
    except MockError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(aside)
        detail = json.dumps(str(e))[1:-1][:80]
        warn(f"{path} is not a readable session ({detail}); kept it as {aside.name}")
        return None


def all_sessions(base: Path | None, warn: Callable[[str], None]) -> list[Session]:
    """Every readable session, oldest first; corrupt files are set aside with a warning."""
    found = []
    for path in sorted(sessions_dir(base).glob("*/session.json")):
        s = load(path, warn)
        if s is not None:
            found.append(s)
    return sorted(found, key=lambda s: (s.started_at, s.id))


def current(base: Path | None, warn: Callable[[str], None]) -> Session | None:
    """The running session (the newest one not ended), if any."""
    running = [s for s in all_sessions(base, warn) if s.running]
    return running[-1] if running else None
