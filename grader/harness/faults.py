"""How the worker describes an exception the attempt raised, for the harness to judge: the
type, one readable line (a compiler's reason included) and where in the attempt it happened."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from grader.problem.impls import one_line, where_in
from grader.runtime.cuda import CUDA_FAULT, INVALID_LAUNCH, LIMITS_HINT
from grader.runtime.errors import ImplLoadError, NotAttempted


def describe(e: BaseException, source: Path) -> dict[str, Any]:
    """What the harness learns of an exception the attempt raised: its type and bases, one
    line (a compiler's reason kept), where in the attempt, and whether it is a stub's raise, a
    load error or a CUDA fault. The harness, not this process, decides the verdict."""
    frames = traceback.extract_tb(e.__traceback__)
    stub = (
        isinstance(e, NotImplementedError)
        and bool(frames)
        and Path(frames[-1].filename).resolve() == source.resolve()
        and (frames[-1].line or "").lstrip().startswith("raise")
    )
    return {
        "type": type(e).__name__,
        "bases": [c.__name__ for c in type(e).__mro__],
        "message": compiler_aware_line(e),
        "where": where_in(_kernel_cause(e) or e, source),
        "not_attempted": isinstance(e, NotAttempted) or stub,
        "load_error": isinstance(e, ImplLoadError),
        "cuda_fault": CUDA_FAULT.search(str(e)) is not None,
        "interpreter_gap": interpreter_gap(e),
        "trace": trace_in(_kernel_cause(e) or e, source),
        "text": str(e)[:2000],
    }


def compiler_aware_line(e: BaseException) -> str:
    """One line, but for a compiler's error the line that says what is wrong: Triton puts the
    cause after the source excerpt ("at 5:23: ... ^ ... arange's range must be a power of 2"),
    and for an error inside a @triton.jit helper (Triton 3.6) only in the exception's cause;
    the interpreter's InterpreterError is said by its cause."""
    cause = _kernel_cause(e)
    if cause is not None:  # the interpreter's wrapper says only repr(cause): say the cause
        return f"{type(e).__name__} in a Triton kernel: {compiler_aware_line(cause)}"[:500]
    if "CompilationError" not in type(e).__name__:
        if INVALID_LAUNCH.search(str(e)):  # the driver names no limit: say them
            return f"{one_line(e)[:200]} ({LIMITS_HINT})"
        return one_line(e)[:500]
    where = _lines(e)[0] if _lines(e) else ""
    inner = e
    while inner.__cause__ is not None:
        inner = inner.__cause__
    lines = _lines(inner)
    if "CompilationError" not in type(inner).__name__:
        reason = one_line(inner)
    else:
        reason = lines[-1] if len(lines) > 1 and lines[-1] != "^" else "(no reason given)"
        where = lines[0] if inner is not e else where
    return f"{type(e).__name__}: {where} {reason}"[:500]


def trace_in(e: BaseException, source: Path, last: int = 3) -> list[str]:
    """The attempt's own frames of the traceback, innermost last: 'file.py:26 in rms_norm:
    raise ShapeNotSupported(...)' (the harness runs elsewhere, so pytest cannot show them)."""
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve() == source.resolve()]
    return [f"{source.name}:{f.lineno} in {f.name}: {(f.line or '').strip()}" for f in ours][-last:]


def interpreter_gap(e: BaseException) -> str:
    """The Triton interpreter's own "X not supported in interpreter mode" for a kernel using
    what it lacks (inline_asm, extern_elementwise), raised from its file; "" otherwise."""
    cause = _kernel_cause(e)
    frames = traceback.extract_tb(cause.__traceback__) if cause is not None else []
    if not isinstance(cause, NotImplementedError) or not frames:
        return ""
    inside = Path(frames[-1].filename).parts[-3:] == ("triton", "runtime", "interpreter.py")
    return one_line(cause).removeprefix("NotImplementedError: ") if inside else ""


def _kernel_cause(e: BaseException) -> BaseException | None:
    """What a kernel raised in the Triton interpreter (TRITON_INTERPRET=1): it wraps the error
    as InterpreterError(repr(error)) from error, whose traceback has the kernel's own line."""
    inner = None
    while type(e).__name__ == "InterpreterError" and e.__cause__ is not None:
        inner = e = e.__cause__  # a @triton.jit helper's error is wrapped once more per call
    return inner


def _lines(e: BaseException) -> list[str]:
    return [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
