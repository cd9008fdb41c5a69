"""Known-wrong softmax: exp(x) / sum(exp(x)) without subtracting the row max first.

Mathematically equal and fine on unit-scale data; exp(89) already overflows fp32, so a row
holding 1e4 gives inf / inf = NaN.
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(x_ptr, out_ptr, N, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    s = 0.0
    for start in range(0, N, BLOCK):
        x = tl.load(
            x_ptr + row * stride + start + cols, mask=start + cols < N, other=float("-inf")
        ).to(tl.float32)
        s += tl.sum(tl.exp(x), axis=0)  # BUG: no max shift, exp overflows for x > 88.7
    for start in range(0, N, BLOCK):
        mask = start + cols < N
        x = tl.load(x_ptr + row * stride + start + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(
            out_ptr + row * stride + start + cols,
            (tl.exp(x) / s).to(out_ptr.dtype.element_ty),
            mask=mask,
        )


def softmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    out = torch.empty_like(x)  # (M, N)
    _softmax_kernel[(M,)](x, out, N, N, BLOCK=1024)
    return out
