"""The hand-off to the SM-2 quiz deck: questions missed in a session become due cards (their
easiness and history kept), and due cards steer the next plan."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path

from grader.bank import quiz
from grader.mock.session import Session


def missed(s: Session) -> list[str]:
    """Question ids with a key point not covered, or not answered at all."""
    return [
        st.item.ref
        for st in s.items
        if st.item.kind == "concept" and (st.answer is None or len(st.hits) < len(st.points))
    ]


def hand_off(ids: Iterable[str], path: Path, today: date, warn: Callable[[str], None]) -> list[str]:
    """Make each question due today in the deck at `path`; idempotent, so a crash between this
    write and the session's is repaired by doing it again."""
    cards = quiz.load_cards(path, warn)
    ids = list(dict.fromkeys(ids))
    for qid in ids:
        card = cards.get(qid, quiz.Card())
        if not quiz.is_due(card, today):
            cards[qid] = replace(card, due=today.isoformat())
    quiz.save_cards(path, cards)
    return ids


def due_ids(path: Path, today: date, warn: Callable[[str], None]) -> set[str]:
    return {qid for qid, card in quiz.load_cards(path, warn).items() if quiz.is_due(card, today)}
