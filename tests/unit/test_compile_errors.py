"""A compiler's error keeps the line that says what is wrong, however Triton wraps it."""

from __future__ import annotations

from pathlib import Path

from grader.harness.faults import compiler_aware_line, describe


class CompilationError(Exception):
    """Named like Triton's: the worker goes by the name, not the class (Triton may not import)."""


def _nested() -> CompilationError:
    """Triton 3.6: the helper's error, wrapped at the call site with no message of its own."""
    try:
        try:
            raise CompilationError(
                "at 2:11:\n    return tl.arange(0, 3)\n           ^\n"
                "arange's range must be a power of 2"
            )
        except CompilationError as inner:
            raise CompilationError("at 16:21:\n    offs = _lanes()\n    ^") from inner
    except CompilationError as outer:
        return outer


def test_the_reason_after_the_excerpt_is_kept():
    e = CompilationError(
        "at 5:23:\n    offs = tl.arange(0, 3)\n    ^\narange's range must be a power of 2"
    )
    line = compiler_aware_line(e)
    assert "at 5:23:" in line and "power of 2" in line, line


def test_a_helpers_reason_is_found_in_the_cause():
    line = compiler_aware_line(_nested())
    assert "power of 2" in line and "at 2:11:" in line, line


def test_a_plain_cause_is_named():
    try:
        raise CompilationError("at 3:4:\n    x\n    ^") from ValueError("bad constexpr")
    except CompilationError as e:
        line = compiler_aware_line(e)
    assert "ValueError" in line and "bad constexpr" in line, line


def test_other_errors_stay_one_line():
    assert "\n" not in compiler_aware_line(RuntimeError("a\nb"))


class InterpreterError(Exception):
    """Named like Triton's interpreter wrapper: InterpreterError(repr(error)) from error."""


def _kernel_line_raises():
    raise ValueError("arange's arguments must be of type tl.constexpr")  # the kernel's line


def _interpreted(depth: int) -> InterpreterError:
    """What the interpreter raises for a kernel whose line raised, wrapped once per jit call."""
    try:
        _kernel_line_raises()
    except ValueError as cause:
        error: BaseException = cause
    for _ in range(depth):
        try:
            raise InterpreterError(repr(error)) from error
        except InterpreterError as wrapped:
            error = wrapped
    return error


def test_the_interpreters_wrapper_is_said_by_its_cause_at_the_kernels_line():
    for depth in (1, 2):  # a kernel, and a @triton.jit helper inside a kernel
        e = _interpreted(depth)
        info = describe(e, Path(__file__))
        assert info["message"] == (
            "InterpreterError in a Triton kernel: ValueError: arange's arguments must be of "
            "type tl.constexpr"
        ), info["message"]
        line = _kernel_line_raises.__code__.co_firstlineno + 1
        assert info["where"].endswith(f"test_compile_errors.py:{line}"), info["where"]
