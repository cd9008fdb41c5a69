"""Bad attempt: dereferences a null pointer (the process dies with SIGSEGV)."""

import ctypes


def rms_norm(x, weight, eps=1e-6):
    return ctypes.string_at(0)
