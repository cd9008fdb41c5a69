"""The report's numbers on the stated rubric, its three renderings, history aggregation, the
keyword assist, and the hand-off of missed questions to the quiz deck."""

from __future__ import annotations

import json
from datetime import date

import pytest

from grader.bank import quiz
from grader.mock import assist, deck, history, report
from grader.mock import session as ms
from grader.mock.plan import Item

T0 = 1_700_000_000.0
PLAN = (
    Item("coding", "rms_norm", "RMSNorm", "kernels", "easy", 600),
    Item("coding", "spec_decode", "Spec", "kernels", "medium", 600),
    Item("concept", "eps-placement", "eps", "norms", "easy", 300),
    Item("concept", "fused-add-rmsnorm", "fused", "norms", "medium", 300),
)
POINTS = ("eps inside the sqrt", "fp32 accumulation", "one read of x", "weight after norm")


def _sub(s, t, **kw):
    base = dict(verdict="passed", score=60, tier=None, measured=False, message="", snapshot="x")
    return ms.record_submit(s, t, **{**base, **kw})


def _played(seed_id="s1", start=T0):
    """rms_norm: failed then passed (gold, measured) with 2 hints, 500 s of 600;
    spec_decode: needs_gpu, 900 s of 600; eps: 2 of 4 points in 150 s; fused: never reached."""
    s = ms.start(PLAN, seed_id, start, seed=1, strict=False)
    s, _ = ms.hint(s, start + 10, 5)
    s, _ = ms.hint(s, start + 20, 5)
    s = _sub(s, start + 100, verdict="failed", score=0)
    s = _sub(s, start + 400, score=100, tier="gold", measured=True)
    s = ms.advance(s, start + 500)
    s = _sub(s, start + 900, verdict="needs_gpu", score=None)
    s = ms.advance(s, start + 1400)
    s = ms.record_answer(s, start + 1500, "eps goes inside", POINTS, (0, 3), (True, False) * 2)
    return ms.end(s, start + 1550)


def test_the_report_numbers_follow_the_rubric():
    rep = report.build(_played(), T0 + 9999)
    rows = rep["items"]
    assert [r["used_s"] for r in rows] == [500, 900, 150, 0]
    assert rows[0]["score"] == 100 - 2 * report.HINT_COST and rows[0]["submits"] == 2
    assert rows[0]["verdict"] == "passed" and rows[0]["tier"] == "gold"
    assert rows[1]["score"] is None and rows[1]["timed_out"]
    assert rows[2]["score"] == 50 and rows[2]["missed"] == list(POINTS[1:3])
    assert rows[3]["reached"] is False and rows[3]["score"] == 0
    d = rep["dimensions"]
    assert d["correctness"] == 100  # the needs_gpu item is left out, not failed
    assert d["performance"] == 100  # gold
    assert d["concepts"] == 25  # (50 + 0) / 2
    assert d["time"] == pytest.approx(round(100 * (1 + 600 / 900 + 1 + 0) / 4, 1))
    w = report.WEIGHTS
    expect = sum(w[k] * d[k] for k in w) / sum(w.values())
    assert d["overall"] == pytest.approx(round(expect, 1))
    assert rep["active_s"] == 1550 and rep["overrun_s"] == 0 and rep["schema"] == report.SCHEMA
    refs = [x["ref"] for x in rep["study"]]
    assert refs == ["spec_decode", "eps-placement", "eps-placement", "fused-add-rmsnorm"]


def test_an_item_never_submitted_scores_zero_and_is_studied():
    s = ms.end(ms.start(PLAN[:1], "s2", T0, seed=1, strict=False), T0 + 60)
    rep = report.build(s, T0 + 60)
    assert rep["items"][0]["score"] == 0 and rep["dimensions"]["correctness"] == 0
    assert rep["dimensions"]["performance"] is None and rep["study"][0]["ref"] == "rms_norm"


def test_the_three_renderings_carry_the_same_scores():
    rep = report.build(_played(), T0 + 9999)
    text = "\n".join(report.lines(rep))
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert f"overall {rep['dimensions']['overall']:.0f}/100" in text
    assert "passed gold 90/100 (2 submits)" in text and "2/4 key points" in text
    md = report.markdown(rep)
    assert "| 1 | rms_norm | coding | 8:20 | 10:00 | 2 |" in md
    assert f"| overall | {rep['dimensions']['overall']:.0f} |" in md
    assert json.loads(json.dumps(rep)) == rep


def test_history_aggregates_sessions_and_finds_the_weakest_areas(tmp_path):
    first = _played("s1", T0)
    second = ms.end(ms.start(PLAN[2:], "s2", T0 + 10**5, seed=2, strict=False), T0 + 10**5 + 1)
    running = ms.start(PLAN, "s3", T0 + 10**6, seed=3, strict=False)
    rows = history.rows([first, second, running])
    assert [r["session"] for r in rows] == ["s1", "s2"]
    weak = dict((k, (m, n)) for k, m, n in history.weakest(rows))
    assert weak["norms"] == (round((50 + 0 + 0 + 0) / 4, 1), 4)
    assert weak["rms_norm"] == (90, 1)
    assert history.weakest(rows)[0][0] == "norms"
    assert history.weakness(rows)["norms"] == pytest.approx(1 - 12.5 / 100)
    assert history.sparkline([0, 50, 100, None]) == "▁▅█·"
    history.write_svg(tmp_path / "t.svg", [r["overall"] for r in rows])
    assert (tmp_path / "t.svg").read_text().count("<circle") == 2


def test_missed_questions_become_due_cards_and_the_hand_off_is_idempotent(tmp_path):
    s = _played()
    assert deck.missed(s) == ["eps-placement", "fused-add-rmsnorm"]
    path = tmp_path / "quiz.json"
    kept = quiz.Card(ef=1.7, reps=3, interval=20, due="2099-01-01", reviews=5, lapses=1)
    quiz.save_cards(path, {"eps-placement": kept})
    today = date(2026, 11, 30)
    for _ in range(2):
        deck.hand_off(deck.missed(s), path, today, print)
        cards = quiz.load_cards(path, print)
        assert cards["eps-placement"].due == "2026-11-30" and cards["eps-placement"].ef == 1.7
        assert cards["fused-add-rmsnorm"] == quiz.Card(due="2026-11-30")
    assert deck.due_ids(path, today, print) == {"eps-placement", "fused-add-rmsnorm"}
    assert quiz.pick([], cards, today, 5) == []  # still a deck quiz.py reads


@pytest.mark.parametrize(
    "answer, point, covered",
    [
        ("add eps inside the square root", "eps goes inside the square root", True),
        ("we tile it", "eps goes inside the square root", False),
        ("Accumulate in FP32 registers", "accumulation in fp32", True),
    ],
)
def test_the_keyword_assist_looks_for_the_points_words(answer, point, covered):
    assert assist.looks_covered(answer, point) is covered


def test_marks_parse_numbers_all_and_none_and_reject_the_rest():
    assert assist.parse_marks("1, 3", 4) == (0, 2) and assist.parse_marks("all", 3) == (0, 1, 2)
    assert assist.parse_marks("none", 3) == ()
    with pytest.raises(ValueError, match="numbered 1..3"):
        assist.parse_marks("4", 3)
    with pytest.raises(ValueError, match="type the numbers"):
        assist.parse_marks("first", 3)
