"""`dojo questions list|show|search|validate` and `dojo quiz`: thin typer commands over
grader.bank (bank_view.py renders, flashcard.py asks one card); every user error is one line
on stderr and a non-zero exit."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import typer
from rich.markdown import Markdown
from rich.markup import escape

from grader.bank import questions as qb
from grader.bank import quiz as qz
from grader.bank import search as bs
from grader.bank.validate import validate as validate_bank
from grader.cli import bank_view, flashcard
from grader.cli.common import EXIT_FAILED, err, fail, out, warn

questions_app = typer.Typer(
    help="Browse, search and validate the question bank.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _bank(topic: str | None = None, difficulty: str | None = None) -> qb.Bank:
    """The loaded bank; malformed files are one warning line each, the rest still usable."""
    bank = qb.load_bank()
    for line in bank.errors:
        warn(f"{line} (`dojo questions validate`)")
    _known("topic", topic, bank.topics())
    if difficulty is not None and difficulty not in qb.DIFFICULTIES:
        fail(f"unknown difficulty '{difficulty}': one of {', '.join(qb.DIFFICULTIES)}")
    return bank


def _known(what: str, value: str | None, known: Iterable[str]) -> None:
    """One error line naming an unknown filter value, with the closest known one."""
    known = sorted(known)
    if value is None or value in known:
        return
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"{len(known)} known, e.g. {known[0]}"
    fail(f"unknown {what} '{value}': {hint} (dojo questions list --json shows them all)")


def _row(q: qb.Question) -> dict:
    return {
        "id": q.id,
        "title": q.title,
        "topic": q.topic,
        "difficulty": q.difficulty,
        "kind": q.kind,
        "tags": list(q.tags),
        "problems": list(q.problems),
        "path": str(q.path.relative_to(qb.ROOT)) if q.path.is_relative_to(qb.ROOT) else str(q.path),
    }


@questions_app.command("list")
def list_cmd(
    topic: str = typer.Option(None, help="only this topic folder"),
    tag: str = typer.Option(None, help="only questions with this tag"),
    difficulty: str = typer.Option(None, help="easy | medium | hard"),
    problem: str = typer.Option(None, help="only questions linked to this problem slug"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """The questions, filtered by topic, tag, difficulty or linked problem."""
    bank = _bank(topic, difficulty)
    _known("tag", tag, {t for q in bank.questions for t in q.tags})
    slugs = {p.parent.name for p in (qb.ROOT / "problems").glob("*/problem.toml")}
    _known("problem", problem, slugs | {p for q in bank.questions for p in q.problems})
    found = qb.select(bank.questions, topic, tag, difficulty, problem)
    if as_json:
        sys.stdout.write(
            json.dumps({"schema": 1, "questions": [_row(q) for q in found]}, indent=1) + "\n"
        )
        return
    if not found:
        fail("no questions match those filters", EXIT_FAILED)
    bank_view.print_rows(out, found)
    out.print(f"{len(found)} questions", markup=False)
    out.print("next: dojo questions show <id>   ·   dojo quiz --topic <topic>")


@questions_app.command()
def show(qid: str = typer.Argument(..., metavar="ID")):
    """A question and its answer, then the code and problems it links to."""
    bank = _bank()
    try:
        q = bank.get(qid)
    except qb.QuestionError as e:
        fail(str(e))
    out.print(f"[bold]{escape(q.title)}[/]  [dim]{q.id}[/]")
    out.print(escape(f"{q.topic} · {q.difficulty} · {q.kind} · tags: {', '.join(q.tags)}"))
    out.print(Markdown(bank_view.prompt_md(q)))
    bank_view.print_paged(out, Markdown(bank_view.reveal_md(q)))
    for other in q.see_also:
        title = bank.by_id[other].title if other in bank.by_id else "(missing)"
        out.print(f"[bold]see also[/] {other}: {escape(title)}")
    for link in q.code:
        bank_view.print_code(out, link)
    for slug in q.problems:
        out.print(f"[bold]problem[/] {slug}: {escape(_problem_title(slug))}   (dojo show {slug})")


def _problem_title(slug: str) -> str:
    from grader.problem.registry import UnknownProblem, get_problem
    from grader.problem.spec import SpecError

    try:
        return get_problem(slug).title
    except (UnknownProblem, SpecError):
        return "(not available)"


@questions_app.command()
def search(
    text: list[str] = typer.Argument(..., help="words to look for"),
    limit: int = typer.Option(10, help="at most this many results"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Ranked search over titles, tags, key points and answers."""
    query = " ".join(text)
    ranked = bs.search(_bank().questions, query)[: max(limit, 1)]
    if as_json:
        rows = [{"score": round(s, 2), **_row(q)} for s, q in ranked]
        sys.stdout.write(
            json.dumps({"schema": 1, "query": query, "results": rows}, indent=1) + "\n"
        )
        return
    if not ranked:
        fail(f"no question matches '{query}' (every word must appear)", EXIT_FAILED)
    bank_view.print_rows(out, [q for _, q in ranked], [s for s, _ in ranked])


@questions_app.command()
def validate(root: Path = typer.Option(qb.ROOT, help="repository root whose bank to check")):
    """Check the bank: front matter, ids, topics, problems, see_also and code links."""
    errors = validate_bank(root)
    for line in errors:
        err.print(line, soft_wrap=True, markup=False)
    if errors:
        fail(f"{len(errors)} problem(s) in the question bank", EXIT_FAILED)
    bank = qb.load_bank(root)
    links = sum(len(q.code) for q in bank.questions)
    linked, total = qb.linked_share(bank.questions)
    out.print(
        f"ok: {total} questions in {len({q.topic for q in bank.questions})}"
        f" topics, {len(bank.areas)} areas, {links} code links checked",
        soft_wrap=True,
    )
    out.print(
        f"linked: {linked} of {total} questions ({linked / max(total, 1):.1%}) link to code"
        f" (the floor is {qb.LINKED_FLOOR:.0%})",
        soft_wrap=True,
    )


def quiz(
    topic: str = typer.Option(None, help="only this topic folder"),
    n: int = typer.Option(10, "--n", help="questions in this session"),
    stats: bool = typer.Option(False, "--stats", help="what is due and how retention goes"),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="where quiz.json lives (default: XDG data dir)"
    ),
):
    """Flash-card review with spaced repetition (SM-2): question, reveal, self-grade 0-5."""
    if n < 1:
        fail(f"--n must be at least 1, got {n}")
    bank = _bank(topic)
    pool = qb.select(bank.questions, topic)
    path = qz.progress_path(data_dir)
    if stats:  # read-only: never writes, renames or creates a file
        return bank_view.print_stats(
            out, qz.stats(pool, qz.load_cards(path, warn, set_aside=False), date.today()), path
        )
    try:  # before the first card, so no grade is given only to be lost
        qz.check_writable(path)
        cards = qz.load_cards(path, warn, set_aside=True)
    except OSError as e:
        fail(
            f"cannot save quiz progress in {path.parent}: {e.strerror} (choose another --data-dir)"
        )
    picked = qz.pick(pool, cards, date.today(), n)
    if not picked:
        upcoming = min(
            (c.due for i, c in cards.items() if c.due and i in {q.id for q in pool}), default=None
        )
        out.print(f"nothing due: the next review is on {upcoming} (dojo quiz --stats)")
        return
    _review_all(picked, cards, path)


def _review_all(picked: list[qb.Question], cards: dict[str, qz.Card], path: Path) -> None:
    """The picked cards in turn, each grade saved at once, until the last or the user stops."""
    done = 0
    try:
        for i, q in enumerate(picked, 1):
            grade = flashcard.review(q, i, len(picked))
            if grade is None:
                break
            cards[q.id] = card = qz.review(cards.get(q.id, qz.Card()), grade, date.today())
            _save(path, cards)  # after every card: an interruption loses nothing graded
            done += 1
            out.print(f"[dim]next review in {card.interval} day(s), on {card.due}[/]")
    except (typer.Abort, EOFError, KeyboardInterrupt):  # end of input or Ctrl-C
        out.print("\nstopped early.")
    saved = f"progress saved in {path}" if done else "nothing graded, nothing saved"
    out.print(escape(f"reviewed {done} of {len(picked)}; {saved}"))


def _save(path: Path, cards: dict[str, qz.Card]) -> None:
    try:
        qz.save_cards(path, cards)
    except OSError as e:
        fail(f"cannot save quiz progress to {path}: {e.strerror} (choose another --data-dir)")
