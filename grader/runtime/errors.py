"""The two ways an implementation fails before it computes anything, shared by the loader,
the CUDA launcher and the harness."""


class ImplLoadError(Exception):
    """The implementation could not be imported or compiled; str() is the one-line reason."""


class NotAttempted(NotImplementedError):
    """Raised for a stub that has not been started (a CUDA file still holding DOJO_STUB)."""
