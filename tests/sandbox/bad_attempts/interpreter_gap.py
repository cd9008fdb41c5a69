"""Bad attempt (CPU only): a kernel using inline PTX, which the Triton interpreter cannot run:
needs_gpu with the feature and its line, neither passed nor the attempt's error."""

import torch
import triton
import triton.language as tl


@triton.jit
def _k(x_ptr, out_ptr, H, BLOCK: tl.constexpr):
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + tl.program_id(0) * H + cols, mask=cols < H, other=0.0)
    asm = "mov.b32 $0, $1;"  # a copy, in PTX
    y = tl.inline_asm_elementwise(asm, "=r,r", [x], dtype=tl.float32, is_pure=True, pack=1)
    tl.store(out_ptr + tl.program_id(0) * H + cols, y, mask=cols < H)


def rms_norm(x, weight, eps=1e-6):
    x2 = x.reshape(-1, x.shape[-1]).contiguous()
    out = torch.empty_like(x2)
    _k[(x2.shape[0],)](x2, out, x2.shape[1], BLOCK=triton.next_power_of_2(x2.shape[1]))
    return out.view(x.shape)
