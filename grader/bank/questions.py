"""The question bank: questions/<topic>/<id>.md, TOML front matter between +++ lines and a
Markdown answer; loaded into frozen dataclasses, each file's schema checked as it loads (one
line per problem), filtered. grader/bank/validate.py checks the bank against the repository."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.bank.rules import (  # noqa: F401 - LINKED_FLOOR, linked_share: public here
    LINKED_FLOOR,
    linked_share,
    practice_error,
)
from grader.runtime.paths import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib

DIFFICULTIES = ("easy", "medium", "hard")
KINDS = ("concept", "numeric", "coding", "design")
ID_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")

_STRINGS = ("id", "title", "topic", "difficulty", "kind", "prompt", "short")
_LISTS = (
    "tags",
    "problems",
    "pending_problems",  # slugs being added elsewhere; an error once problems/<slug>/ exists
    "code",
    "measured",  # "results/<file>.json:<path> = <figure as quoted in the text>"
    "hints",
    "key_points",
    "see_also",
)
_FIELDS: dict[str, type] = {
    **dict.fromkeys(_STRINGS, str),
    **dict.fromkeys(_LISTS, list),
    "follow_ups": list,  # [[follow_ups]] tables, each with a question q and its answer a
}
_REQUIRED = (*_STRINGS, "tags", "key_points", "follow_ups")


class QuestionError(ValueError):
    """A malformed question or bank file; str() is the one line shown to the user."""


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    title: str
    topic: str
    difficulty: str
    kind: str
    tags: tuple[str, ...]
    problems: tuple[str, ...]
    code: tuple[str, ...]  # "path::symbol", path relative to the repository root
    key_points: tuple[str, ...]
    follow_ups: tuple[FollowUp, ...]
    see_also: tuple[str, ...]
    answer: str  # Markdown
    path: Path
    prompt: str = ""  # the question as asked, with its givens
    short: str = ""  # the 60-second answer, shown before the deep one
    hints: tuple[str, ...] = ()  # a ladder: each rung gives away a little more
    pending_problems: tuple[str, ...] = ()
    measured: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FollowUp:
    q: str
    a: str

    def __str__(self) -> str:
        return f"{self.q} — {self.a}"


@dataclass(frozen=True, slots=True)
class Area:
    """A coverage area of the bank (questions/AREAS.toml) and the topic folders that count."""

    name: str
    title: str
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Bank:
    questions: tuple[Question, ...]
    areas: tuple[Area, ...]
    errors: tuple[str, ...]  # one line per file that could not be loaded

    @property
    def by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}

    def get(self, qid: str) -> Question:
        found = self.by_id.get(qid)
        if found is None:
            close = difflib.get_close_matches(qid, list(self.by_id), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "see `dojo questions list`"
            raise QuestionError(f"unknown question '{qid}': {hint}")
        return found

    def topics(self) -> list[str]:
        return sorted({t for a in self.areas for t in a.topics})


def rel_path(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def split_front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "+++":
        raise QuestionError(f"{where}: must start with a +++ line (TOML front matter)")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "+++"), None)
    if end is None:
        raise QuestionError(f"{where}: front matter has no closing +++ line")
    try:
        meta = tomllib.loads("".join(lines[1:end]))
    except tomllib.TOMLDecodeError as e:
        raise QuestionError(f"{where}: front matter is not valid TOML ({e})") from None
    return meta, "".join(lines[end + 1 :]).strip()


def parse_question(path: Path, root: Path = ROOT) -> Question:
    """One question file; every format or schema problem raises QuestionError naming the file."""
    where = rel_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise QuestionError(f"{where}: cannot read ({e})") from None
    meta, answer = split_front_matter(text, where)
    _check_schema(where, meta)
    if meta["id"] != path.stem:
        raise QuestionError(f"{where}: id '{meta['id']}' must equal the file name '{path.stem}'")
    if meta["topic"] != path.parent.name:
        raise QuestionError(
            f"{where}: topic '{meta['topic']}' must equal the folder name '{path.parent.name}'"
        )
    if not answer:
        raise QuestionError(f"{where}: the Markdown answer after the front matter is empty")
    lists = {k: tuple(meta.get(k, ())) for k in _LISTS}
    follow_ups = tuple(FollowUp(f["q"].strip(), f["a"].strip()) for f in meta["follow_ups"])
    return Question(
        **{k: meta[k].strip() for k in _STRINGS},
        **lists,
        follow_ups=follow_ups,
        answer=answer,
        path=path,
    )


def _check_schema(where: str, meta: dict[str, Any]) -> None:
    for key, value in meta.items():
        if key not in _FIELDS:
            raise QuestionError(f"{where}: unknown key '{key}' (allowed: {', '.join(_FIELDS)})")
        kind = _FIELDS[key]
        if key == "follow_ups":
            continue  # checked by practice_error: a list of tables, not of strings
        if (
            not isinstance(value, kind)
            or kind is list
            and not all(isinstance(v, str) and v.strip() for v in value)
        ):
            what = "a list of non-empty strings" if kind is list else "a string"
            raise QuestionError(f"{where}: '{key}' must be {what}, got {value!r}")
    for key in _REQUIRED:
        if key not in meta:
            raise QuestionError(f"{where}: missing key '{key}'")
    if not ID_RE.fullmatch(meta["id"]):
        raise QuestionError(f"{where}: id '{meta['id']}' must be lowercase words joined by '-'")
    if not meta["title"].strip():
        raise QuestionError(f"{where}: 'title' is empty")
    for key, options in (("difficulty", DIFFICULTIES), ("kind", KINDS)):
        if meta[key] not in options:
            raise QuestionError(
                f"{where}: '{key}' must be one of {', '.join(options)}, got {meta[key]!r}"
            )
    if not 3 <= len(meta["key_points"]) <= 6:
        raise QuestionError(
            f"{where}: 'key_points' needs 3 to 6 items, got {len(meta['key_points'])}"
        )
    if msg := practice_error(meta):
        raise QuestionError(f"{where}: {msg}")


def load_areas(root: Path = ROOT) -> tuple[Area, ...]:
    path = root / "questions" / "AREAS.toml"
    where = rel_path(path, root)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise QuestionError(f"{where}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise QuestionError(f"{where}: not valid TOML ({e})") from None
    areas = []
    for name, table in raw.get("areas", {}).items():
        if not (
            isinstance(table, dict)
            and set(table) == {"title", "topics"}
            and isinstance(table["title"], str)
            and isinstance(table["topics"], list)
        ):
            raise QuestionError(f"{where}: [areas.{name}] needs exactly 'title' and 'topics'")
        areas.append(Area(name, table["title"], tuple(table["topics"])))
    if not areas or set(raw) != {"areas"}:
        raise QuestionError(f"{where}: expected one or more [areas.<name>] tables and nothing else")
    return tuple(areas)


def load_bank(root: Path = ROOT) -> Bank:
    """Every loadable question, sorted by topic then id; malformed files become error lines."""
    try:
        areas = load_areas(root)
        errors: list[str] = []
    except QuestionError as e:
        areas, errors = (), [str(e)]
    questions = []
    for path in sorted((root / "questions").glob("*/*.md")):
        try:
            questions.append(parse_question(path, root))
        except QuestionError as e:
            errors.append(str(e))
    questions.sort(key=lambda q: (q.topic, q.id))
    return Bank(tuple(questions), areas, tuple(errors))


def select(
    questions: Iterable[Question],
    topic: str | None = None,
    tag: str | None = None,
    difficulty: str | None = None,
    problem: str | None = None,
) -> list[Question]:
    return [
        q
        for q in questions
        if (topic is None or q.topic == topic)
        and (tag is None or tag in q.tags)
        and (difficulty is None or q.difficulty == difficulty)
        and (problem is None or problem in q.problems)
    ]


def describe_links(problem: Any, root: Path = ROOT, limit: int = 5) -> list[str]:
    """For `dojo show <slug>`: the question ids the problem.toml lists (else the first `limit`
    questions that link the problem), one line each, then a pointer to the rest."""
    bank = load_bank(root)
    by_id = bank.by_id
    linking = [q.id for q in bank.questions if problem.slug in q.problems]
    shown = list(problem.questions) or linking[:limit]
    lines = [
        f"{qid}: {by_id[qid].title} ({by_id[qid].difficulty})"
        if qid in by_id
        else f"{qid} (not in the question bank)"
        for qid in shown
    ]
    more = [qid for qid in linking if qid not in shown]
    if more:
        lines.append(f"... and {len(more)} more: dojo questions list --problem {problem.slug}")
    return lines
