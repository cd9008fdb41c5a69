"""Cheat at fp8_quant: the scales computed honestly, the rounding to e4m3 left to torch's cast,
and dequant as torch's cast back: the quantisation is exactly what the problem asks for."""

import torch

E4M3_MAX = 448.0


def quant_fp8(x, group_size=128):
    T, H = x.shape
    g = x.float().reshape(T, H // group_size, group_size)  # (T, G, group)
    amax = g.abs().amax(dim=-1, keepdim=True)  # (T, G, 1)
    scale = amax.clamp(min=1e-10) / E4M3_MAX  # (T, G, 1)
    q = (g / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)  # (T, G, group)
    return q.reshape(T, H), scale.reshape(T, H // group_size)


def dequant_fp8(q, scales, group_size=128):
    T, H = q.shape
    g = q.float().reshape(T, H // group_size, group_size)  # (T, G, group)
    return (g * scales[..., None]).reshape(T, H)
