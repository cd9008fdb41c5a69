"""A mock interview's plan: coding problems and linked questions picked by seed (weak areas and
due quiz cards first), with the session's time split between them in whole seconds."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from grader.runtime.device import GPUS_NEEDED

QUESTION_MINUTES = {"easy": 4, "medium": 5, "hard": 7}  # answer + self-marking
QUESTION_SHARE = 0.4  # questions take at most this share of the session
TWO_PROBLEMS_FROM = 75  # minutes: from here on a plan holds two coding problems


class PlanError(ValueError):
    """A plan that cannot be made from these options; str() is the one line for the user."""


@dataclass(frozen=True, slots=True)
class Item:
    kind: str  # coding | concept
    ref: str  # problem slug or question id
    title: str
    topic: str  # problem track or question topic
    difficulty: str
    budget_s: int

    def __post_init__(self) -> None:
        if self.kind not in ("coding", "concept"):
            raise ValueError(f"item kind must be coding or concept, got {self.kind!r}")
        if self.budget_s <= 0:
            raise ValueError(f"item budget must be positive, got {self.budget_s}")


@dataclass(frozen=True, slots=True)
class Options:
    minutes: int = 45
    seed: int = 0
    problems: tuple[str, ...] = ()
    topic: str | None = None
    difficulty: str | None = None
    questions: int | None = None
    device: str = "any"  # any | cpu | gpu: which problems count as gradable (--cpu/--gpu-only)

    def __post_init__(self) -> None:
        if not 10 <= self.minutes <= 240:
            raise PlanError(f"--minutes must be 10..240, got {self.minutes}")
        if self.questions is not None and not 0 <= self.questions <= 10:
            raise PlanError(f"--questions must be 0..10, got {self.questions}")
        if self.difficulty not in (None, "easy", "medium", "hard"):
            raise PlanError(f"--difficulty must be easy, medium or hard, got {self.difficulty!r}")


def gradable(problem, cuda_count: int, device: str = "any") -> bool:
    """Whether this machine decides the problem's correctness (and, for gpu, uses a GPU)."""
    if GPUS_NEEDED[problem.needs["correctness"]] > cuda_count:
        return False
    if device == "cpu":
        return problem.needs["correctness"] == "cpu"
    if device == "gpu":
        return cuda_count > 0 and any(n != "cpu" for n in problem.needs.values())
    return True


def candidates(problems: Iterable, bank: Iterable, opts: Options, cuda_count: int) -> list:
    """The problems this plan may use; PlanError says which option left none."""
    problems = list(problems)
    by_slug = {p.slug: p for p in problems}
    for slug in opts.problems:
        if slug not in by_slug:
            raise PlanError(f"unknown problem '{slug}': run `dojo list` to see them")
    pool = [by_slug[s] for s in opts.problems] or problems
    if opts.topic:
        topics = {p.track for p in problems} | {t for p in problems for t in p.tags}
        topics |= {q.topic for q in bank}
        if opts.topic not in topics:
            raise PlanError(f"unknown topic '{opts.topic}': try one of {_few(topics)}")
        linked = {s for q in bank if q.topic == opts.topic for s in q.problems}
        pool = [p for p in pool if opts.topic in (p.track, *p.tags) or p.slug in linked] or pool
    if opts.difficulty:
        pool = [p for p in pool if p.difficulty == opts.difficulty]
        if not pool:
            raise PlanError(f"no problem of difficulty {opts.difficulty} matches these options")
    here = [p for p in pool if gradable(p, cuda_count, opts.device)]
    if not here:
        where = {"cpu": "on the CPU", "gpu": "on a GPU here"}.get(opts.device, "on this machine")
        gpus = f"{cuda_count} CUDA GPU(s)"
        raise PlanError(f"none of these problems can be graded {where} ({gpus}; see dojo doctor)")
    return here


def _few(names: set[str]) -> str:
    return ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else "")


def make_plan(
    problems: Iterable,
    bank: Iterable,
    opts: Options,
    cuda_count: int,
    weakness: Mapping[str, float] | None = None,
    due: Iterable[str] = (),
) -> tuple[Item, ...]:
    """The items in order, coding first; the same inputs and seed give the same plan.
    `weakness` maps a problem slug or question topic to 0 (strong) .. 1 (weak)."""
    bank = list(bank)
    weakness = dict(weakness or {})
    rng = random.Random(opts.seed)
    pool = candidates(problems, bank, opts, cuda_count)
    n_coding = len(opts.problems) or (2 if opts.minutes >= TWO_PROBLEMS_FROM else 1)
    coding = _pick_problems(pool, n_coding, opts, rng, weakness)
    questions = _pick_questions(coding, bank, opts, rng, weakness, set(due))
    return _budget(coding, questions, opts.minutes * 60)


def _weighted_order(things: list, weight, rng: random.Random) -> list:
    """A weighted shuffle: each key is u ** (1 / w), larger first (Efraimidis-Spirakis)."""
    keyed = [(rng.random() ** (1.0 / weight(t)), i) for i, t in enumerate(things)]
    return [things[i] for _, i in sorted(keyed, reverse=True)]


def _pick_problems(pool: list, n: int, opts: Options, rng: random.Random, weak) -> list:
    if opts.problems:
        return pool
    fits = [p for p in pool if p.mock_minutes <= opts.minutes * (1 - QUESTION_SHARE / 2)] or [
        min(pool, key=lambda p: p.mock_minutes)
    ]
    ordered = _weighted_order(fits, lambda p: 1.0 + 2.0 * weak.get(p.slug, 0.5), rng)
    picked, minutes = [], 0
    for p in ordered:
        if len(picked) < n and (not picked or minutes + p.mock_minutes <= opts.minutes):
            picked.append(p)
            minutes += p.mock_minutes
    return picked


def _pick_questions(coding, bank, opts: Options, rng, weak, due: set[str]) -> list:
    by_id = {q.id: q for q in bank}
    linked = [by_id[i] for p in coding for i in p.questions if i in by_id]
    if opts.topic and any(q.topic == opts.topic for q in bank):
        on_topic = [q for q in bank if q.topic == opts.topic]
        linked = [q for q in linked if q.topic == opts.topic] + on_topic
    linked = list({q.id: q for q in linked}.values())
    n = opts.questions
    if n is None:
        n = max(1, round(opts.minutes * QUESTION_SHARE / QUESTION_MINUTES["medium"] / 2))
    ordered = _weighted_order(
        linked, lambda q: (3.0 if q.id in due else 1.0) + 2.0 * weak.get(q.topic, 0.5), rng
    )
    picked, seconds = [], 0
    cap = opts.minutes * 60 * QUESTION_SHARE if opts.questions is None else opts.minutes * 60 / 2
    for q in ordered:
        cost = QUESTION_MINUTES.get(q.difficulty, 5) * 60
        if len(picked) < n and seconds + cost <= cap:
            picked.append(q)
            seconds += cost
    return picked


def _budget(coding: list, questions: list, total_s: int) -> tuple[Item, ...]:
    """Questions get their fixed minutes; coding shares the rest by mock_minutes; the last
    coding item takes the rounding remainder, so the budgets sum to the session exactly."""
    q_items = [
        Item(
            "concept",
            q.id,
            q.title,
            q.topic,
            q.difficulty,
            QUESTION_MINUTES.get(q.difficulty, 5) * 60,
        )
        for q in questions
    ]
    left = total_s - sum(i.budget_s for i in q_items)
    weights = [p.mock_minutes for p in coding]
    shares = [left * w // sum(weights) for w in weights]
    shares[-1] += left - sum(shares)
    c_items = [
        Item("coding", p.slug, p.title, p.track, p.difficulty, s) for p, s in zip(coding, shares)
    ]
    return (*c_items, *q_items)
