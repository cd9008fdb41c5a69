"""Mock interview plans: reproducible by seed, budgets that sum to the session, gradable
problems only, weak areas and due cards favoured, and one clear error per bad option."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.bank.questions import load_bank
from grader.mock.plan import Options, PlanError, make_plan
from grader.problem.registry import all_problems

PROBLEMS = all_problems()
BANK = load_bank().questions


def _problem(slug, minutes=30, correctness="cpu", perf="cpu", difficulty="easy", qs=()):
    return SimpleNamespace(
        slug=slug,
        title=slug.title(),
        track="kernels",
        tags=("tag-" + slug,),
        difficulty=difficulty,
        mock_minutes=minutes,
        needs={"correctness": correctness, "perf": perf},
        questions=tuple(qs),
    )


def _question(qid, topic="t", difficulty="medium"):
    return SimpleNamespace(id=qid, title=qid, topic=topic, difficulty=difficulty, problems=())


@given(minutes=st.integers(10, 240), seed=st.integers(0, 10**6), n=st.none() | st.integers(0, 6))
def test_budgets_sum_to_the_session_and_the_same_seed_gives_the_same_plan(minutes, seed, n):
    opts = Options(minutes=minutes, seed=seed, questions=n)
    plan = make_plan(PROBLEMS, BANK, opts, cuda_count=0)
    assert sum(i.budget_s for i in plan) == minutes * 60
    assert all(i.budget_s > 0 for i in plan)
    assert plan == make_plan(PROBLEMS, BANK, opts, cuda_count=0)
    assert plan[0].kind == "coding" and len({i.ref for i in plan}) == len(plan)
    coding = [i for i in plan if i.kind == "coding"]
    assert len(coding) == (2 if minutes >= 75 else 1)
    if n is not None:
        assert len(plan) - len(coding) <= n


def test_different_seeds_give_different_plans():
    plans = {make_plan(PROBLEMS, BANK, Options(45, seed), 0) for seed in range(12)}
    assert len(plans) > 3


def test_only_problems_gradable_here_are_picked():
    plans = [make_plan(PROBLEMS, BANK, Options(45, seed), cuda_count=0) for seed in range(30)]
    slugs = {i.ref for p in plans for i in p if i.kind == "coding"}
    by_slug = {p.slug: p for p in PROBLEMS}
    assert slugs and all(by_slug[s].needs["correctness"] == "cpu" for s in slugs)


def test_cpu_only_and_gpu_only_select_by_where_the_problem_is_graded():
    probs = [_problem("a"), _problem("b", correctness="gpu", perf="gpu")]
    cpu = make_plan(probs, [], Options(30, 1, device="cpu"), cuda_count=1)
    assert [i.ref for i in cpu] == ["a"]
    gpu = make_plan(probs, [], Options(30, 1, device="gpu"), cuda_count=1)
    assert [i.ref for i in gpu] == ["b"]
    with pytest.raises(PlanError, match="none of these problems can be graded on a GPU"):
        make_plan(probs, [], Options(30, 1, device="gpu"), cuda_count=0)


def test_linked_questions_come_with_their_problem_and_due_ones_first():
    probs = [_problem("a", qs=[f"q{i}" for i in range(8)])]
    bank = [_question(f"q{i}") for i in range(8)]
    for seed in range(10):
        plan = make_plan(probs, bank, Options(45, seed, questions=2), 0, due={"q5"})
        refs = [i.ref for i in plan if i.kind == "concept"]
        assert len(refs) == 2 and set(refs) <= {f"q{i}" for i in range(8)}
    hits = sum(
        "q5" in [i.ref for i in make_plan(probs, bank, Options(45, s, questions=1), 0, due={"q5"})]
        for s in range(40)
    )
    assert hits > 40 / 8 * 1.5  # a due card is picked well above its 1-in-8 share


def test_weak_problems_are_picked_more_often():
    probs = [_problem(s) for s in "abcd"]
    weak = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}
    picks = [make_plan(probs, [], Options(30, s), 0, weakness=weak)[0].ref for s in range(200)]
    assert picks.count("a") > 2 * picks.count("b")


@pytest.mark.parametrize(
    "opts, words",
    [
        (dict(problems=("no_such",)), "unknown problem 'no_such'"),
        (dict(topic="no-such-topic"), "unknown topic 'no-such-topic'"),
        (dict(minutes=5), "--minutes must be 10..240"),
        (dict(difficulty="brutal"), "--difficulty must be"),
        (dict(questions=-1), "--questions must be 0..10"),
    ],
)
def test_bad_options_raise_one_clear_line(opts, words):
    with pytest.raises(PlanError, match=words.replace("(", r"\(")):
        make_plan(PROBLEMS, BANK, Options(**{"minutes": 45, **opts}), 0)


def test_a_topic_picks_its_problems_and_questions():
    plan = make_plan(PROBLEMS, BANK, Options(45, 3, topic="prefix-cache"), 0)
    assert plan[0].ref == "radix_tree"
