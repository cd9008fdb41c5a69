"""Bad attempt: tl.arange with a runtime bound, an error at the kernel's own line (the Triton
interpreter wraps it in InterpreterError; the reason and that line must survive)."""

import torch
import triton
import triton.language as tl


@triton.jit
def _k(x_ptr, out_ptr, H):
    cols = tl.arange(0, H)  # the kernel's error: H is not a tl.constexpr
    tl.store(out_ptr + cols, tl.load(x_ptr + cols))


def rms_norm(x, weight, eps=1e-6):
    out = torch.empty_like(x)
    _k[(1,)](x, out, x.shape[-1])
    return out
