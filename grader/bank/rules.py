"""Practice rules of the question bank: a prompt with its givens, a short answer, answered
follow-ups, hint ladders, the share of questions linked to code, and figures quoted from
results/*.json kept current."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

TITLE_MAX = 70  # characters: a title names the topic; the prompt carries the givens
SHORT_WORDS = (8, 90)  # the 60-second answer, in words
HINTED_KINDS = ("numeric", "design")  # these need a hint ladder of at least two rungs
FOLLOW_UPS = (1, 4)
LINKED_FLOOR = 0.70  # share of questions that must have a checked `code` link
_NUMBER = re.compile(r"\d")


def practice_error(meta: dict[str, Any]) -> str | None:
    """The first broken practice rule of a question's front matter, or None."""
    for rule in (_title_rule, _prompt_rule, _short_rule, _hints_rule, _follow_ups_rule):
        if msg := rule(meta):
            return msg
    return None


def _title_rule(meta: dict[str, Any]) -> str | None:
    if len(meta["title"]) > TITLE_MAX:
        return f"'title' has {len(meta['title'])} characters, at most {TITLE_MAX}"
    return None


def _prompt_rule(meta: dict[str, Any]) -> str | None:
    prompt = meta["prompt"].strip()
    if len(prompt.split()) < 8:
        return "'prompt' must ask the question in full (8 words or more), with its givens"
    if prompt == meta["title"].strip():
        return "'prompt' repeats the title: state the question and its givens"
    if meta["kind"] == "numeric" and not _NUMBER.search(prompt):
        return "'prompt' of a numeric question states no givens (no number in it)"
    return None


def _short_rule(meta: dict[str, Any]) -> str | None:
    n, (lo, hi) = len(meta["short"].split()), SHORT_WORDS
    return None if lo <= n <= hi else f"'short' has {n} words, needs {lo} to {hi}"


def _hints_rule(meta: dict[str, Any]) -> str | None:
    if meta["kind"] in HINTED_KINDS and len(meta.get("hints", [])) < 2:
        return f"a {meta['kind']} question needs 'hints', a ladder of 2 or more"
    return None


def _follow_ups_rule(meta: dict[str, Any]) -> str | None:
    items, (lo, hi) = meta["follow_ups"], FOLLOW_UPS
    if not isinstance(items, list) or not lo <= len(items) <= hi:
        return f"'follow_ups' needs {lo} to {hi} [[follow_ups]] tables"
    for i, f in enumerate(items, 1):
        if not isinstance(f, dict) or set(f) != {"q", "a"}:
            return f"follow-up {i} must be a table with exactly 'q' and 'a'"
        if not all(isinstance(f[k], str) and f[k].strip() for k in "qa"):
            return f"follow-up {i} needs a non-empty question 'q' and answer 'a'"
    return None


def practice_link_errors(q: Any, root: Path) -> list[str]:
    """Bank-level rules of one question: pending problems that now exist, links to known-wrong
    variants the text does not name, and measured figures that do not match results/."""
    text = "\n".join((q.prompt, q.short, *q.key_points, q.answer, *map(str, q.follow_ups)))
    notes = "\n".join(link.partition(" -- ")[2] for link in q.code)
    errors = [
        f"pending problem '{s}' now exists: move it to 'problems'"
        for s in q.pending_problems
        if (root / "problems" / s / "problem.toml").is_file()
    ]
    for link in q.code:
        stem = Path(link.split("::")[0]).stem
        if stem.startswith("wrong_") and stem not in text + notes:
            errors.append(
                f"code link '{link}' is a known-wrong variant: say so in the text (name {stem})"
            )
    errors += [msg for m in q.measured if (msg := check_measured(m, text, root))]
    return errors


def linked_share(questions: Iterable[Any]) -> tuple[int, int]:
    """(questions with at least one checked `code` link, all questions)."""
    qs = list(questions)
    return sum(1 for q in qs if q.code), len(qs)


def linked_floor(questions: Iterable[Any]) -> list[str]:
    """One error line when fewer than LINKED_FLOOR of the questions have a code link."""
    linked, total = linked_share(questions)
    if not total or linked >= LINKED_FLOOR * total:
        return []
    return [
        f"questions/: {linked} of {total} questions ({linked / total:.0%}) have a code link,"
        f" at least {LINKED_FLOOR:.0%} must: link the code that shows each question's point"
    ]


# --- measured figures -------------------------------------------------------------------------

UNITS = {
    "TB/s": 1e12,
    "GB/s": 1e9,
    "TFLOP/s": 1e12,
    "ms": 1e-3,
    "us": 1e-6,
    "x": 1.0,
    "%": 0.01,
}
_QUOTE = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>TB/s|GB/s|TFLOP/s|ms|us|x|%)")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([A-Za-z_]+)=([^\]]+)\]")


def check_measured(entry: str, text: str, root: Path) -> str | None:
    """None when `results/<f>.json:<path> = <quote>` holds: the path exists, the quote appears
    in the question's text, and it equals the JSON value (a number rounded as quoted, or a
    substring of a JSON string). Else why not."""
    source, sep, quote = entry.partition(" = ")
    file, colon, path = source.strip().partition(":")
    quote = quote.strip()
    if not (sep and colon and file.startswith("results/") and file.endswith(".json") and quote):
        return f"measured '{entry}' must look like 'results/<file>.json:<path> = <figure>'"
    if quote not in text:
        return f"measured figure '{quote}' does not appear in the question's text"
    try:
        value = _walk(_load(root / file), path)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        return f"measured '{entry}': cannot read {file}:{path} ({e})"
    if isinstance(value, str):
        return None if quote in value else f"measured '{quote}' is not in {file}:{path}"
    return _compare(quote, value, f"{file}:{path}")


def _compare(quote: str, value: float, where: str) -> str | None:
    m = _QUOTE.fullmatch(quote)
    if m is None:
        return f"measured figure '{quote}' must be a number and a unit ({', '.join(UNITS)})"
    quoted, digits = float(m["num"]), m["num"].split(".")
    places = len(digits[1]) if len(digits) > 1 else 0
    actual = value / UNITS[m["unit"]]
    if abs(round(actual, places) - quoted) > 0.5 * 10**-places + 1e-9:
        return f"measured figure '{quote}' is stale: {where} is {actual:.{places + 2}f} {m['unit']}"
    return None


@cache
def _load(file: Path) -> Any:
    return json.loads(file.read_text(encoding="utf-8"))


def _walk(data: Any, path: str) -> Any:
    """Dots and [i] index; [key=value] picks the first list item whose key equals value."""
    pos = 0
    for m in _STEP.finditer(path):
        if m.start() != pos and path[pos] != ".":
            raise ValueError(f"bad path near '{path[pos:]}'")
        pos = m.end() + (1 if m.end() < len(path) and path[m.end()] == "." else 0)
        name, index, key, want = m.groups()
        if name is not None:
            data = data[name]
        elif index is not None:
            data = data[int(index)]
        else:
            found = [d for d in data if isinstance(d, dict) and str(d.get(key)) == want]
            if not found:
                raise KeyError(f"no item with {key}={want}")
            data = found[0]
    return data
