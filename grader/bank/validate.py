"""`dojo questions validate`: the bank checked against the repository it ships in (duplicate ids,
topics in no area, unknown problems, see_also ids and code links, problem.toml ids not in the
bank, the linked-question floor), one line per problem."""

from __future__ import annotations

import sys
from pathlib import Path

from grader.bank.codelinks import check_code_link
from grader.bank.questions import load_bank, rel_path
from grader.bank.rules import linked_floor, practice_link_errors
from grader.runtime.paths import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib


def validate(root: Path = ROOT) -> list[str]:
    """Every problem with the bank, one line each: malformed files, duplicate ids, unknown
    topics, problems, see_also ids and code links, and problem.toml ids not in the bank."""
    bank = load_bank(root)
    errors = list(bank.errors)
    topics, seen = set(bank.topics()), {}
    for q in bank.questions:
        where = rel_path(q.path, root)
        if q.id in seen:
            errors.append(f"{where}: duplicate id '{q.id}' (also {rel_path(seen[q.id], root)})")
        seen.setdefault(q.id, q.path)
        if bank.areas and q.topic not in topics:
            errors.append(f"{where}: topic '{q.topic}' is in no area of questions/AREAS.toml")
    ids = set(seen)
    for q in bank.questions:
        where = rel_path(q.path, root)
        errors += [
            f"{where}: unknown problem '{s}' (no problems/{s}/problem.toml)"
            for s in q.problems
            if not (root / "problems" / s / "problem.toml").is_file()
        ]
        errors += [
            f"{where}: see_also '{s}' is not a question id" for s in q.see_also if s not in ids
        ]
        errors += [f"{where}: {msg}" for link in q.code if (msg := check_code_link(link, root))]
        errors += [f"{where}: {msg}" for msg in practice_link_errors(q, root)]
    return errors + _problem_question_ids(root, ids) + linked_floor(bank.questions)


def _problem_question_ids(root: Path, ids: set[str]) -> list[str]:
    errors = []
    for toml_path in sorted((root / "problems").glob("*/problem.toml")):
        try:
            listed = tomllib.loads(toml_path.read_text(encoding="utf-8")).get("questions", [])
        except (OSError, tomllib.TOMLDecodeError):
            continue  # `dojo list` reports a malformed problem.toml; not this bank's concern
        errors += [
            f"{rel_path(toml_path, root)}: question '{q}' is not in the bank"
            for q in listed
            if isinstance(q, str) and q not in ids
        ]
    return errors
