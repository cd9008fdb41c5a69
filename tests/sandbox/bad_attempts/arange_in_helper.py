"""A Triton kernel whose helper asks tl.arange for 3 lanes: Triton 3.6 wraps the helper's error
in one at the call site with no message of its own, so the reason must come from its cause."""

import torch
import triton
import triton.language as tl


@triton.jit
def _lanes():
    return tl.arange(0, 3)


@triton.jit
def _kernel(x_ptr, out_ptr):
    offs = _lanes()
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


def rms_norm(x, weight, eps=1e-6):
    out = torch.empty_like(x)
    _kernel[(1,)](x, out)
    return out
