"""Known-wrong RMSNorm: accumulates the squares in the input dtype instead of fp32.

fp16 squares overflow for |x| > 256 and a 4096-term fp16 sum loses ~3 decimal digits.
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _rms_norm_kernel(x_ptr, w_ptr, out_ptr, H, eps, stride, BLOCK_H: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_H)
    mask = cols < H
    x = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0)
    ms = tl.sum((x * x).to(x_ptr.dtype.element_ty), axis=0).to(tl.float32) / H  # BUG: x.dtype sum
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    normed = (x.to(tl.float32) / tl.sqrt(ms + eps)).to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + row * stride + cols, w * normed, mask=mask)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    H = x.shape[-1]
    x2 = x.reshape(-1, H).contiguous()  # (N, H)
    out = torch.empty_like(x2)
    _rms_norm_kernel[(x2.shape[0],)](x2, weight, out, H, eps, H, BLOCK_H=triton.next_power_of_2(H))
    return out.view(x.shape)
