"""The keyword pre-check shown beside each key point while the user marks an answer: an assist
that points at what the answer may have missed, never the grade."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_STOP = frozenset(
    "a an and are as at be by can do does each for from has have how if in into is it its "
    "more not of on one or per so than that the then there these this to up was what when "
    "which while why with without".split()
)
MIN_SHARE = 0.5  # a point looks covered when half its content words appear in the answer


def _stem(word: str) -> str:
    return word[:5] if len(word) > 5 else word  # 'conflicts', 'conflicting' -> 'confl'


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def looks_covered(answer: str, point: str) -> bool:
    """Whether at least half the key point's content words (stemmed) occur in the answer."""
    wanted = content_words(point)
    if not wanted:
        return False
    return len(wanted & content_words(answer)) >= MIN_SHARE * len(wanted)


def precheck(answer: str, points: tuple[str, ...]) -> tuple[bool, ...]:
    return tuple(looks_covered(answer, p) for p in points)


def parse_marks(text: str, n: int) -> tuple[int, ...]:
    """'1,3', '1 3', 'all' or 'none' (1-based, as shown) into 0-based indices; ValueError
    with the one line to show otherwise."""
    text = text.strip().lower()
    if text in ("all", "a"):
        return tuple(range(n))
    if text in ("", "none", "-"):
        return ()
    try:
        picked = {int(t) for t in re.split(r"[,\s]+", text) if t}
    except ValueError:
        raise ValueError(
            f"'{text}': type the numbers of the points you covered, all or none"
        ) from None
    bad = sorted(i for i in picked if not 1 <= i <= n)
    if bad:
        raise ValueError(f"no key point {bad[0]}: they are numbered 1..{n}")
    return tuple(sorted(i - 1 for i in picked))
