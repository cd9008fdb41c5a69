"""Known-wrong FP8 quantisation: the group scale comes from max(x), not max(|x|).

Right for groups whose largest magnitude is positive; where it is negative the scale is too
small and those values clamp at -448 (an all-negative group even gets the 1e-10 floor).
"""

import torch
import triton
import triton.language as tl


@triton.jit
def _quant_fp8_kernel(x_ptr, q_ptr, s_ptr, GROUP: tl.constexpr, BLOCK_G: tl.constexpr):
    gid = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_G)
    mask = cols < GROUP
    x = tl.load(x_ptr + gid * GROUP + cols, mask=mask, other=float("-inf")).to(tl.float32)
    scale = tl.maximum(tl.max(x, axis=0), 1e-10) / 448.0  # BUG: max(x), not max(|x|)
    q = tl.clamp(x / scale, -448.0, 448.0).to(tl.float8e4nv)
    tl.store(q_ptr + gid * GROUP + cols, q, mask=mask)
    tl.store(s_ptr + gid, scale)


def quant_fp8(x: torch.Tensor, group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    T, H = x.shape
    x = x.contiguous()
    q = torch.empty((T, H), dtype=torch.float8_e4m3fn, device=x.device)  # (T, H)
    scales = torch.empty((T, H // group_size), dtype=torch.float32, device=x.device)  # (T, G)
    _quant_fp8_kernel[(T * (H // group_size),)](
        x, q, scales, GROUP=group_size, BLOCK_G=triton.next_power_of_2(group_size)
    )
    return q, scales


def dequant_fp8(q: torch.Tensor, scales: torch.Tensor, group_size: int = 128) -> torch.Tensor:
    T, H = q.shape
    return (q.float().reshape(T, -1, group_size) * scales[..., None]).reshape(T, H)
