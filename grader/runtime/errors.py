"""The two ways an implementation fails before it computes anything, shared by the loader,
the CUDA launcher and the harness, and the words that mark a kernel the Triton interpreter
cannot run (the harness writes them, the sandbox reads them)."""

# A check whose kernel uses what the interpreter lacks (inline_asm, ...) needs a GPU: it is
# neither passed nor the attempt's error. The sandbox finds such records by these words.
INTERPRETER_GAP = "which the Triton interpreter cannot run"
# How a test's own exception (not an assertion, not the implementation's) is reported: a grader
# bug, unless the implementation already failed elsewhere (then its output is the likely cause).
INTERNAL_ERROR = "internal error in the test, please report it"


class ImplLoadError(Exception):
    """The implementation could not be imported or compiled; str() is the one-line reason."""


class NotAttempted(NotImplementedError):
    """Raised for a stub that has not been started (a CUDA file still holding DOJO_STUB)."""
