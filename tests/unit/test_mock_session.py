"""The mock clock and session as pure functions of a fake time: pause/resume arithmetic,
time-outs and strict mode, the store's round trip, corrupt and future files, and a stateful
model check of whole sessions."""

from __future__ import annotations

import json

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from grader.mock import clock
from grader.mock import session as ms
from grader.mock.plan import Item

T0 = 1_700_000_000.0
PLAN = (
    Item("coding", "rms_norm", "RMSNorm", "kernels", "easy", 600),
    Item("concept", "eps-placement", "eps", "norms", "easy", 240),
    Item("concept", "fused-add-rmsnorm", "fused", "norms", "medium", 300),
)


def _start(strict=False):
    return ms.start(PLAN, "s1", T0, seed=1, strict=strict)


def test_pause_and_resume_leave_the_paused_time_out_of_every_clock():
    s = _start()
    s = ms.pause(s, T0 + 100)
    assert s.active(T0 + 1000) == 100 and s.item_used(0, T0 + 1000) == 100
    s = ms.resume(s, T0 + 400)
    assert s.active(T0 + 450) == 150 and s.paused_s == 300
    s = ms.advance(s, T0 + 500)
    assert s.items[0].used_s == 200 and s.item_used(1, T0 + 530) == 30


@pytest.mark.parametrize(
    "used, budget, level",
    [(0, 100, 0), (49.9, 100, 0), (50, 100, 1), (79, 100, 1), (80, 100, 2), (100, 100, 3)],
)
def test_warning_levels_at_half_four_fifths_and_time_out(used, budget, level):
    assert clock.level(used, budget) == level


def test_fmt_shows_an_overrun_with_a_minus():
    assert clock.fmt(65) == "1:05" and clock.fmt(-5) == "-0:05" and clock.fmt(0) == "0:00"


def test_time_out_is_recorded_and_the_session_goes_on_outside_strict():
    s = ms.observe(_start(), T0 + 601)
    assert s.items[0].timed_out and s.timed_out_at is None and s.running
    s = ms.observe(s, T0 + 1200)
    assert s.timed_out_at == T0 + 1200 and s.running
    s = ms.advance(s, T0 + 1300)
    assert s.items[0].used_s == 1300 and s.current == 1


def test_strict_sessions_refuse_pause_and_hints_and_end_at_time_out():
    s = _start(strict=True)
    with pytest.raises(ms.MockError, match="cannot be paused"):
        ms.pause(s, T0 + 1)
    with pytest.raises(ms.MockError, match="no hints"):
        ms.hint(s, T0 + 1, 3)
    s = ms.observe(s, T0 + 1140)
    assert not s.running and s.ended_at == T0 + 1140
    with pytest.raises(ms.MockError, match="has ended"):
        ms.advance(s, T0 + 1141)


def test_actions_that_do_not_apply_raise_one_line():
    s = _start()
    with pytest.raises(ms.MockError, match="is a coding problem"):
        ms.record_answer(s, T0, "x", ("p",), (0,), (True,))
    with pytest.raises(ms.MockError, match="not paused"):
        ms.resume(s, T0)
    with pytest.raises(ms.MockError, match="paused: `dojo mock resume`"):
        ms.advance(ms.pause(s, T0 + 1), T0 + 2)
    with pytest.raises(ms.MockError, match="no more hints"):
        ms.hint(s, T0, 0)
    s = ms.advance(ms.advance(s, T0 + 1), T0 + 2)
    with pytest.raises(ms.MockError, match="last item"):
        ms.advance(s, T0 + 3)
    with pytest.raises(ms.MockError, match="is a question"):
        ms.record_submit(
            s, T0, verdict="passed", score=60, tier=None, measured=False, message="", snapshot="x"
        )


def test_a_session_survives_the_store_unchanged(tmp_path):
    s = ms.record_submit(
        _start(),
        T0 + 30,
        verdict="passed",
        score=60,
        tier=None,
        measured=False,
        message="ok",
        snapshot="submits/1-1",
    )
    s = ms.pause(ms.advance(s, T0 + 40), T0 + 50)
    ms.save(s, tmp_path)
    assert ms.load(ms.session_path("s1", tmp_path), print) == s
    assert ms.current(tmp_path, print) == s


def test_a_corrupt_session_is_set_aside_with_one_warning_and_others_stay(tmp_path):
    ms.save(_start(), tmp_path)
    bad = tmp_path / "mock" / "s0" / "session.json"
    bad.parent.mkdir(parents=True)
    for text in ("{not json", json.dumps({"id": "s0", "items": "nope"})):
        bad.write_text(text)
        warnings = []
        sessions = ms.all_sessions(tmp_path, warnings.append)
        assert [s.id for s in sessions] == ["s1"]
        assert len(warnings) == 1 and "s0" in warnings[0] and "corrupt" in warnings[0]
        assert not bad.exists() and list(bad.parent.glob("session.json.corrupt-*"))


def test_a_session_from_a_newer_schema_is_one_clear_error(tmp_path):
    path = ms.session_path("s9", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": ms.SCHEMA + 1, "id": "s9"}))
    with pytest.raises(ms.MockError, match="newer Kernel Dojo"):
        ms.all_sessions(tmp_path, print)
    assert path.exists()  # kept as it is: a newer dojo can still read it


class SessionMachine(RuleBasedStateMachine):
    """Random action sequences against a plain model: active time is wall time minus pauses,
    the items' time adds up to the active time at the end, and the store round-trips."""

    def __init__(self):
        super().__init__()
        self.t = T0
        self.s = _start()
        self.paused_total = 0.0
        self.paused_since = None

    @rule(dt=st.integers(0, 400))
    def wait(self, dt):
        self.t += dt

    @precondition(lambda self: self.s.running and self.paused_since is None)
    @rule()
    def pause(self):
        self.s, self.paused_since = ms.pause(self.s, self.t), self.t

    @precondition(lambda self: self.s.running and self.paused_since is not None)
    @rule()
    def resume(self):
        self.s = ms.resume(self.s, self.t)
        self.paused_total += self.t - self.paused_since
        self.paused_since = None

    @precondition(lambda self: self.s.running and self.paused_since is None)
    @rule()
    def next(self):
        if self.s.current + 1 < len(self.s.items):
            self.s = ms.advance(self.s, self.t)

    @precondition(lambda self: self.s.running)
    @rule()
    def end(self):
        if self.paused_since is not None:
            self.paused_total += self.t - self.paused_since
            self.paused_since = None
        self.s = ms.end(self.s, self.t)
        self.end_t = self.t

    @invariant()
    def active_time_is_wall_time_minus_pauses(self):
        stop = self.end_t if not self.s.running else self.paused_since or self.t
        assert self.s.active(self.t) == pytest.approx(stop - T0 - self.paused_total)

    @invariant()
    def item_times_add_up_to_the_active_time(self):
        used = sum(self.s.item_used(i, self.t) for i in range(len(self.s.items)))
        assert used == pytest.approx(self.s.active(self.t))

    @invariant()
    def the_json_round_trips(self):
        assert ms.from_json(json.loads(json.dumps(ms.asdict(self.s)))) == self.s


TestSessionMachine = SessionMachine.TestCase
