"""The timed target of a benchmark case, in the implementation's worker and the reference's,
and the check of one output against the reference's (with a peer's lenient bound)."""

from __future__ import annotations

from typing import Any

from grader.harness.checked import CheckedImpl, remote
from grader.perf.tamper import own_copy


class Call:
    """The timed target in both workers, and the check of one output against the reference's."""

    def __init__(
        self, impl: CheckedImpl, base: CheckedImpl, target: tuple, name: str, hooks, lenient=None
    ):
        self.i, self.b, self.target, self.name, self.hooks = impl, base, target, name, hooks
        self.lenient, self.mismatch = lenient, ""  # the first output outside hooks' tolerance

    def impl(self, x: dict, op: str = "call") -> Any:
        return remote(self.i.client, (op, self.target, (), x), self.name)

    def reference(self, x: dict) -> Any:
        """The reference's output; on a GPU its worker then hands its cached memory back (an
        fp32 reference over a large case reserves tens of GB that the implementation or a peer
        timed next would run out of: paged_attention's peers did on an H200)."""
        out = remote(self.b.client, ("call", self.target, (), x), "the reference")
        if self.target[1] != "cpu":
            remote(self.b.client, ("trim",), "the reference")
        return out

    def verify(self, x: dict, out: Any, want: Any = None) -> None:
        want = self.reference(x) if want is None else want
        try:
            self.hooks.compare(out, want, x)
        except AssertionError as e:
            if self.lenient is None or not self._within_lenient(out, want, x):
                raise  # the message names the problem's own tolerance
            self.mismatch = self.mismatch or str(e)

    def _within_lenient(self, out: Any, want: Any, x: dict) -> bool:
        try:
            self.lenient.compare(out, want, x)
        except AssertionError:
            return False
        return True

    def checked(self, x: dict) -> None:
        self.verify(x, self.impl(own_copy(x)))
