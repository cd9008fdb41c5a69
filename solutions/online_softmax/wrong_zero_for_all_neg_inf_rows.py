"""Known-wrong softmax: guards the division so that a row of all -inf gives 0, not NaN.

A habit from attention kernels, where a fully masked row is often defined as 0; torch.softmax
returns NaN there (0/0), and this problem follows torch. Every other row is right.
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _softmax_kernel(x_ptr, out_ptr, N, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    m = float("-inf")
    s = 0.0
    for start in range(0, N, BLOCK):
        x = tl.load(
            x_ptr + row * stride + start + cols, mask=start + cols < N, other=float("-inf")
        ).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)
        s = s * tl.exp(m - shift) + tl.sum(tl.exp(x - shift), axis=0)
        m = m_new
    shift = tl.where(m == float("-inf"), 0.0, m)
    inv = tl.where(s > 0, 1.0 / s, 0.0)  # BUG: an all -inf row becomes 0 instead of NaN
    for start in range(0, N, BLOCK):
        mask = start + cols < N
        x = tl.load(x_ptr + row * stride + start + cols, mask=mask, other=float("-inf")).to(
            tl.float32
        )
        tl.store(
            out_ptr + row * stride + start + cols,
            (tl.exp(x - shift) * inv).to(out_ptr.dtype.element_ty),
            mask=mask,
        )


def softmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    out = torch.empty_like(x)  # (M, N)
    _softmax_kernel[(M,)](x, out, N, N, BLOCK=1024)
    return out
