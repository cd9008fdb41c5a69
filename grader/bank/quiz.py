"""Flash-card review of the question bank: the SM-2 scheduler as pure functions, what is due,
retention stats, and the progress store (data_dir/quiz.json, written atomically)."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from grader import store
from grader.bank.questions import Question

EF_START = 2.5  # SM-2's starting easiness factor
EF_FLOOR = 1.3  # below this, cards come back so often they become a chore
PASS = 3  # grades 3..5 are recalls, 0..2 are lapses
GRADES = {
    0: "blank",
    1: "wrong, familiar once seen",
    2: "wrong, but close",
    3: "right, with effort",
    4: "right, after a pause",
    5: "right, instantly",
}
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Card:
    """What the scheduler knows about one question. A card never reviewed has no due date."""

    ef: float = EF_START
    reps: int = 0  # successful reviews in a row
    interval: int = 0  # days until the next review
    due: str | None = None  # ISO date
    reviews: int = 0
    lapses: int = 0  # reviews graded below PASS
    last_grade: int | None = None


def update_ef(ef: float, grade: int) -> float:
    """SM-2: EF' = EF + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02), floored at 1.3.
    Per grade that is +0.10 (5), 0 (4), -0.14 (3), -0.32 (2), -0.54 (1), -0.80 (0)."""
    miss = 5 - grade
    return max(EF_FLOOR, ef + 0.1 - miss * (0.08 + miss * 0.02))


def review(card: Card, grade: int, today: date) -> Card:
    """The SM-2 update for one self-grade q in 0..5.

    - EF is updated on every review with update_ef (so repeated lapses make a card "hard").
    - q >= 3 (recalled): reps += 1; the interval becomes 1 day after the first success,
      6 days after the second, then round(interval * EF') days (EF' the updated factor,
      rounded half up), so with EF' >= 1.3 it grows by at least 30% from 2 days on.
    - q < 3 (lapse): reps = 0 and the interval restarts at 1 day; lapses += 1.
    - The card is due `interval` days after today.
    """
    if grade not in GRADES:
        raise ValueError(f"grade must be an integer 0..5, got {grade!r}")
    ef = update_ef(card.ef, grade)
    if grade >= PASS:
        reps = card.reps + 1
        interval = 1 if reps == 1 else 6 if reps == 2 else math.floor(card.interval * ef + 0.5)
        lapses = card.lapses
    else:
        reps, interval, lapses = 0, 1, card.lapses + 1
    due = (today + timedelta(days=interval)).isoformat()
    return Card(
        ef=ef,
        reps=reps,
        interval=interval,
        due=due,
        reviews=card.reviews + 1,
        lapses=lapses,
        last_grade=grade,
    )


def is_due(card: Card | None, today: date) -> bool:
    return card is not None and card.due is not None and date.fromisoformat(card.due) <= today


def pick(
    questions: Iterable[Question], cards: dict[str, Card], today: date, n: int
) -> list[Question]:
    """Up to n questions: due cards first (most overdue first), then new ones, easy before hard,
    taking topics in turn so a session does not drill one topic; cards not yet due wait."""
    questions = list(questions)
    due = sorted(
        (q for q in questions if is_due(cards.get(q.id), today)),
        key=lambda q: (cards[q.id].due, q.id),
    )
    by_topic: dict[str, list[Question]] = {}
    level = {"easy": 0, "medium": 1, "hard": 2}
    for q in sorted(questions, key=lambda q: (level.get(q.difficulty, 1), q.id)):
        if q.id not in cards:
            by_topic.setdefault(q.topic, []).append(q)
    fresh = []
    while any(by_topic.values()):
        for topic in sorted(by_topic):
            if by_topic[topic]:
                fresh.append(by_topic[topic].pop(0))
    return (due + fresh)[:n]


def stats(questions: Iterable[Question], cards: dict[str, Card], today: date) -> dict[str, Any]:
    """What is due and how retention is going, overall and per topic."""
    rows: dict[str, dict[str, Any]] = {}
    week = today + timedelta(days=7)
    for q in questions:
        card = cards.get(q.id)
        row = rows.setdefault(
            q.topic,
            {
                "topic": q.topic,
                "questions": 0,
                "new": 0,
                "due": 0,
                "due_7d": 0,
                "reviews": 0,
                "lapses": 0,
                "ef_sum": 0.0,
            },
        )
        row["questions"] += 1
        if card is None:
            row["new"] += 1
            continue
        row["due"] += is_due(card, today)
        row["due_7d"] += is_due(card, week)
        row["reviews"] += card.reviews
        row["lapses"] += card.lapses
        row["ef_sum"] += card.ef
    total = {
        k: sum(r[k] for r in rows.values())
        for k in ("questions", "new", "due", "due_7d", "reviews", "lapses", "ef_sum")
    }
    return {
        "topics": [_finish(r) for _, r in sorted(rows.items())],
        "total": _finish({"topic": "all", **total}),
    }


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    seen = row["questions"] - row["new"]
    ef_sum = row.pop("ef_sum")
    row["seen"] = seen
    row["mean_ef"] = round(ef_sum / seen, 2) if seen else None
    # retention: the share of reviews recalled (grade >= 3)
    row["retention"] = round(1 - row["lapses"] / row["reviews"], 3) if row["reviews"] else None
    return row


# --- the progress store -----------------------------------------------------------------------


def progress_path(data_dir: Path | None = None) -> Path:
    """quiz.json in data_dir, default $XDG_DATA_HOME/kernel-dojo (~/.local/share/kernel-dojo)."""
    return store.data_dir(data_dir) / "quiz.json"


def load_cards(path: Path, warn: Callable[[str], None], set_aside: bool = True) -> dict[str, Card]:
    """The saved cards; {} when there are none. Read-only when not set_aside: a file that is not
    JSON or not the schema, or single malformed cards, are skipped with one warning line; with
    set_aside (a review session, whose data dir is writable) they are also moved to
    quiz.json.corrupt-<time> and the good cards written back, so the warning comes once."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise ValueError(f"not a schema-{SCHEMA} progress file")
        if not isinstance(raw.get("cards"), dict):
            raise ValueError("'cards' is not a table")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        return _whole_file_bad(path, e, warn, set_aside)
    cards, bad = {}, {}
    for qid, value in raw["cards"].items():
        try:
            cards[qid] = _card(value)
        except (TypeError, ValueError):
            bad[qid] = value
    if bad:
        names = ", ".join(sorted(bad))
        if set_aside:
            aside = _aside(path)
            store.save_json(aside, {"schema": SCHEMA, "cards": bad})
            save_cards(path, cards)
            warn(f"{path}: malformed card(s) {names} moved to {aside.name}; the rest kept")
        else:
            warn(f"{path}: malformed card(s) {names} skipped; the rest kept")
    return cards


def _aside(path: Path) -> Path:
    return path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")


def _whole_file_bad(
    path: Path, e: Exception, warn: Callable[[str], None], set_aside: bool
) -> dict[str, Card]:
    if not set_aside:
        warn(f"{path} is unreadable ({e}); ignored it (a review session sets it aside)")
        return {}
    aside = _aside(path)
    path.replace(aside)
    warn(f"{path} was unreadable ({e}); kept it as {aside.name} and started afresh")
    return {}


def check_writable(path: Path) -> None:
    """Raise OSError unless the progress file's folder can be created and written to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=f".{path.name}.probe.", dir=path.parent)
    os.close(fd)
    os.unlink(probe)


def _card(value: Any) -> Card:
    if not isinstance(value, dict):
        raise ValueError(f"bad card {value!r}")
    card = replace(Card(), **value)  # unknown keys raise TypeError
    ok = (
        isinstance(card.ef, (int, float))
        and card.ef >= EF_FLOOR
        and all(
            isinstance(v, int) and v >= 0
            for v in (card.reps, card.interval, card.reviews, card.lapses)
        )
        and (card.last_grade is None or card.last_grade in GRADES)
    )
    if not ok:
        raise ValueError(f"bad card {value!r}")
    if card.due is not None:
        date.fromisoformat(card.due)  # ValueError when it is not a date
    return card


def save_cards(path: Path, cards: dict[str, Card]) -> None:
    store.save_json(path, {"schema": SCHEMA, "cards": {k: asdict(c) for k, c in cards.items()}})
