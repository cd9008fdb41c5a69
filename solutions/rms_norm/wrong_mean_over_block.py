"""Known-wrong RMSNorm: divides the sum of squares by the padded block width, not by H.

Correct whenever H is a power of two, wrong for every other H: the bug fixed-size tests miss.
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _rms_norm_kernel(x_ptr, w_ptr, out_ptr, H, eps, stride, BLOCK_H: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_H)
    mask = cols < H
    x = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
    inv_rms = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / BLOCK_H + eps)  # BUG: BLOCK_H, not H
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    tl.store(
        out_ptr + row * stride + cols, w * (x * inv_rms).to(out_ptr.dtype.element_ty), mask=mask
    )


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    H = x.shape[-1]
    x2 = x.reshape(-1, H).contiguous()  # (N, H)
    out = torch.empty_like(x2)
    _rms_norm_kernel[(x2.shape[0],)](x2, weight, out, H, eps, H, BLOCK_H=triton.next_power_of_2(H))
    return out.view(x.shape)
