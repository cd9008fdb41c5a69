"""Known-wrong FP8 quantisation: one scale for the whole tensor, repeated for every group.

Per-tensor scaling is a real scheme, but not this contract: one outlier then flattens every
other group to a few codes, which is why DeepSeek-V3 scales per 1x128 group. Built from the
solution's kernel: each group gets one extra element, the tensor's amax, so that every group's
amax is the tensor's.
Rejected by: test_matches_reference_on_fixed_cases
"""

import torch

from solutions.fp8_quant.triton import dequant_fp8, quant_fp8_with

__all__ = ["dequant_fp8", "quant_fp8"]


def quant_fp8(x, group_size=128):
    T, H = x.shape
    groups = x.reshape(-1, group_size)  # (T*G, group_size)
    amax = x.abs().amax() if x.numel() else x.new_zeros(())
    pad = amax.expand(groups.shape[0], 1)  # BUG: the tensor's amax joins every group
    q, scales = quant_fp8_with(torch.cat([groups, pad], dim=1), group_size + 1)
    return q[:, :group_size].reshape(T, H), scales.reshape(T, H // group_size)
