"""The shrunk example a failed check shows: produced by hypothesis itself here, so a release that
renames its notes ("Falsifying example" became "Failing test case") fails this test."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from grader.harness.falsifying import shrunk_example

QUICK = settings(derandomize=True, max_examples=50, deadline=None, database=None)


class Fixture:
    """Stands in for the impl / problem fixtures: a repr hypothesis prints over several lines."""

    def __repr__(self) -> str:
        return "Problem(slug='rms_norm',\n path='/somewhere',\n hints=('a', 'b'))"


def _notes(fn) -> list[str]:
    with pytest.raises(AssertionError) as info:
        fn()
    return list(getattr(info.value, "__notes__", []))


def test_the_drawn_arguments_of_the_shrunk_call_and_nothing_else():
    @QUICK
    @given(
        problem=st.just(Fixture()),
        rows=st.integers(2, 5),
        H=st.integers(1, 200),
        seed=st.integers(0, 9),
    )
    def fails(problem, rows, H, seed):
        assert H < 7

    line = shrunk_example(_notes(fails), fixtures=["problem"])
    assert line == "example: rows=2, H=7, seed=0", line


def test_a_long_drawn_value_is_joined_onto_one_line():
    case = st.fixed_dictionaries({f"key_{i}": st.integers(0, 3) for i in range(12)})

    @QUICK
    @given(case=case)
    def fails(case):
        assert case["key_11"] < 2

    line = shrunk_example(_notes(fails), fixtures=[])
    assert line.startswith("example: case={") and "'key_11': 2}" in line and "\n" not in line


class Counter(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.n = 0

    @rule(k=st.integers(0, 10))
    def add(self, k):
        self.n += k
        assert self.n < 5


def test_a_state_machine_shows_its_shrunk_steps():
    notes = _notes(lambda: run_state_machine_as_test(Counter, settings=QUICK))
    text = shrunk_example(notes, fixtures=[])
    assert text == "example (the shrunk steps):\n  state = Counter()\n  state.add(k=5)", text


def test_no_example_without_hypothesis_notes():
    assert shrunk_example([], ["impl"]) is None
    assert (
        shrunk_example(["    These lines were always and only run by failing test cases:"], [])
        is None
    )


def test_the_graders_profiles_skip_the_explain_phase_whose_notes_are_not_shown():
    """Explaining reran a failing example for minutes on a wrong attempt (see plugin.py)."""
    import grader.harness.plugin  # noqa: F401  registers the profiles

    for name in ("ci", "dev"):
        phases = settings.get_profile(name).phases
        assert Phase.explain not in phases and Phase.shrink in phases, name
