"""The shrunk hypothesis example of a failed check, as one short line a person can rerun by hand:
the drawn arguments only (`rows=2, H=1, pad=1, seed=1`) or a state machine's steps, not the
fixtures' long reprs nor hypothesis's explain-phase notes (lines of the grader's own files)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# hypothesis's heading of the shrunk call: "Falsifying example" before 6.1xx, now "Failing test
# case"; the call's arguments follow, one a line at four spaces, longer values continued deeper
_HEADS = ("Falsifying example", "Failing test case")
_ARG = re.compile(r"^    (\w+)=(.*?),?(\s+#.*)?$")


def shrunk_example(notes: Iterable[str], fixtures: Iterable[str]) -> str | None:
    """'example: rows=2, H=1' from the exception's __notes__, leaving out the arguments named in
    `fixtures` (impl, problem, runtime, ...); a state machine's shrunk steps (`state.insert(...)`,
    one note each) one a line under 'example:'. None when there is nothing to show."""
    skip = set(fixtures)
    drawn: list[str] = []
    steps: list[str] = []
    for note in notes:
        if note.startswith(_HEADS):
            drawn += _arguments(note.splitlines()[1:], skip)
        elif note.startswith("state") and not note.startswith("state.teardown()"):
            steps.append(f"  {note}")
    if steps:
        return "\n".join(["example (the shrunk steps):", *steps])
    return f"example: {', '.join(drawn)}" if drawn else None


def _arguments(lines: list[str], skip: set[str]) -> list[str]:
    """name=value for each top-level argument line; a value hypothesis spread over the lines
    below it (a dict, a long repr) is joined back into one line."""
    args: list[tuple[str, list[str]]] = []
    for line in lines:
        m = _ARG.match(line)
        if m:
            args.append((m.group(1), [m.group(2)]))
        elif args and line.startswith("    ") and not line.lstrip().startswith("#"):
            args[-1][1].append(line.strip().split("  #")[0])
    return [f"{name}={_joined(parts)}" for name, parts in args if name not in skip]


def _joined(parts: list[str]) -> str:
    """['{', "'a': 1,", "'b': 2,", '}'] -> "{'a': 1, 'b': 2}"."""
    text = " ".join(parts)
    text = re.sub(r"([\[({]) ", r"\1", text)
    return re.sub(r",? ([\])}])", r"\1", text).rstrip(",")
