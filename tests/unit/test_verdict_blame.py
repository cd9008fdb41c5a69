"""Whose fault a check run's verdict names, decided from its result records (sandbox.check)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grader.runtime.errors import INTERNAL_ERROR, INTERPRETER_GAP
from grader.sandbox.check import decide
from grader.sandbox.process import Finished


def _result(test: str, status: str, message: str = "", static: bool = False) -> dict:
    nodeid = f"problems/p/test_p.py::{test}"
    return {"event": "result", "nodeid": nodeid, "phase": "call", "test": test,
            "status": status, "message": message, "static": static}  # fmt: skip


SHAPE = _result("test_fixed", "failed", "verify counts has shape (1, 1), expected (1,)")
INTERNAL = _result("test_stats", "error", f"{INTERNAL_ERROR}: IndexError: too many indices")
PASSED = [_result("test_rules", "passed", static=True), _result("test_other", "passed")]


def _decide(results: list[dict]) -> tuple[str, str]:
    verdict, message, _ = decide(
        [*results, {"event": "finish", "exitstatus": 1}], Finished(1, "", 1.0), 60
    )
    return verdict, message


@given(st.permutations([SHAPE, INTERNAL, *PASSED]))
def test_a_tests_internal_error_does_not_outrank_the_implementations_failure(results):
    assert _decide(results) == ("failed", "test_fixed: " + SHAPE["message"])


def test_an_internal_error_alone_is_still_reported_as_the_graders():
    verdict, message = _decide([INTERNAL, *PASSED])
    assert verdict == "error" and message.startswith(f"test_stats: {INTERNAL_ERROR}")


@given(
    st.permutations(
        [_result("test_k", "needs_gpu", f"k uses inline_asm, {INTERPRETER_GAP}"), *PASSED]
    )
)
def test_a_kernel_the_interpreter_cannot_run_is_needs_gpu_even_beside_passed_checks(results):
    verdict, message = _decide(results)
    assert verdict == "needs_gpu" and message == (
        f"k uses inline_asm, {INTERPRETER_GAP} (1 static check passed here)"
    )
