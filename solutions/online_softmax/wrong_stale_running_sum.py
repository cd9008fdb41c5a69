"""Known-wrong online softmax: when a block raises the running max, the running sum is not
rescaled to the new max (the `s *= exp(m_old - m_new)` line is missing).

Correct whenever the row fits in one block, or its max sits in the first block; wrong for
longer rows whose max grows later, where the old terms keep their larger, stale scale.
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
        m = tl.maximum(m, tl.max(x, axis=0))
        shift = tl.where(m == float("-inf"), 0.0, m)
        s += tl.sum(tl.exp(x - shift), axis=0)  # BUG: s was summed against the old max
    shift = tl.where(m == float("-inf"), 0.0, m)
    for start in range(0, N, BLOCK):
        mask = start + cols < N
        x = tl.load(x_ptr + row * stride + start + cols, mask=mask, other=float("-inf")).to(
            tl.float32
        )
        tl.store(
            out_ptr + row * stride + start + cols,
            (tl.exp(x - shift) / s).to(out_ptr.dtype.element_ty),
            mask=mask,
        )


def softmax(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    M, N = x.shape
    out = torch.empty_like(x)  # (M, N)
    _softmax_kernel[(M,)](x, out, N, N, BLOCK=1024)
    return out
