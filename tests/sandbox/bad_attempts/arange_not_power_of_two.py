"""A Triton kernel whose tl.arange range is 3: the compiler's own reason must reach the user."""

import torch
import triton
import triton.language as tl


@triton.jit
def _kernel(x_ptr, out_ptr):
    offs = tl.arange(0, 3)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


def rms_norm(x, weight, eps=1e-6):
    out = torch.empty_like(x)
    _kernel[(1,)](x, out)
    return out
