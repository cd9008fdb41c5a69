"""`dojo engine check` forgives a split of the greedy paths only at a near-tie of both runs
(each run's pick in the other's top log-probs, as vLLM's tests compare), and only when every
call of the op was compared with the reference and passed (grader/engine_tools/check.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grader.engine_tools.check import Run, _near_tie

SPLIT = {"pass": 1, "prompt": 0, "token": 2, "got": 7, "want": 9}  # sequence 2 of 6, token 2


def _run(top_at_split: dict[int, float], tokens: int = 4) -> Run:
    steps = [(-0.1, {1: -0.1, 2: -2.0}) for _ in range(tokens)]
    if tokens > 2:
        steps[2] = (max(top_at_split.values()), top_at_split)
    return Run([[1] * tokens] * 6, [steps if i == 2 else [] for i in range(6)])


@given(gap=st.floats(0, 3), other=st.floats(-9, -3))
def test_a_split_where_each_pick_is_in_the_others_top_is_a_near_tie(gap, other):
    want = _run({9: -0.5, 7: -0.5 - gap, 3: other})
    got = _run({7: -0.5, 9: -0.6, 3: other})
    note = _near_tie("fp8_quant", SPLIT, got, want)
    assert note is not None and "tokens 7 vs 9" in note and "fp8_quant's tolerance" in note


@given(missing=st.sampled_from(["got", "want", "both"]))
def test_a_pick_outside_the_other_runs_top_is_a_divergence(missing):
    want_top = {9: -0.5, 3: -1.0} if missing in ("got", "both") else {9: -0.5, 7: -0.6}
    got_top = {7: -0.5, 3: -1.0} if missing in ("want", "both") else {7: -0.5, 9: -0.6}
    assert _near_tie("rms_norm", SPLIT, _run(got_top), _run(want_top)) is None


def test_no_log_probs_there_is_a_divergence():
    tie = {9: -0.5, 7: -0.5}
    assert _near_tie("x", SPLIT, _run(tie, tokens=2), _run(tie)) is None  # one run had stopped
    bare = Run([[1] * 4] * 6, [[] for _ in range(6)])  # speculation asks for none
    assert _near_tie("x", SPLIT, bare, bare) is None
