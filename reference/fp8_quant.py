"""Per-token-group FP8 (e4m3fn) quantisation, DeepSeek-V3 1x128 style, its dequant, and the
e4m3 value table and exact quotients the checks compare codes with."""

from __future__ import annotations

from typing import Any

import torch

FP8 = torch.float8_e4m3fn
E4M3_MAX = 448.0  # largest finite e4m3fn value: 1.75 * 2^8 (0x7F is NaN, there is no inf)
SCALE_FLOOR = 1e-10  # amax floor: an all-zero group gets scale 1e-10/448, not 0 (0/0 = NaN)
TIE_BAND = 2.0**-20  # how close to a midpoint (relative) a quotient must be to count as a tie


def quant_fp8(x: torch.Tensor, group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    # read T*H*itemsize, write T*H (1-byte codes) + 4*T*H/group_size (scales)
    T, H = x.shape
    assert H % group_size == 0, f"H={H} is not a multiple of group_size={group_size}"
    g = x.float().reshape(T, H // group_size, group_size)  # (T, G, group) exact for all dtypes
    amax = g.abs().amax(dim=-1, keepdim=True)  # (T, G, 1)
    scale = amax.clamp(min=SCALE_FLOOR) / E4M3_MAX  # (T, G, 1) max(amax, 1e-10)/448, one rounding
    # clamp explicitly: x/scale may exceed 448 by an ulp, and casts of out-of-range values have
    # produced NaN in some torch versions; the cast itself rounds to nearest, ties to even
    q = (g / scale).clamp(-E4M3_MAX, E4M3_MAX).to(FP8)  # (T, G, group)
    return q.reshape(T, H), scale.reshape(T, H // group_size)


def dequant_fp8(q: torch.Tensor, scales: torch.Tensor, group_size: int = 128) -> torch.Tensor:
    # read T*H + 4*T*H/group_size, write 4*T*H
    T, H = q.shape
    g = q.float().reshape(T, H // group_size, group_size)  # (T, G, group) codes are exact in fp32
    return (g * scales[..., None]).reshape(T, H)  # (T, H) one fp32 rounding per element


def e4m3_values(device: Any) -> torch.Tensor:
    """The 253 distinct finite e4m3fn values, ascending, as float64 (+0 and -0 merge)."""
    every = torch.arange(256, dtype=torch.uint8, device=device).view(FP8).double()  # (256,)
    return torch.unique(every[~every.isnan()])  # (253,) sorted


def quotients(x: torch.Tensor, scales: torch.Tensor, group_size: int) -> torch.Tensor:
    """x / scale per element in float64, clamped to +-448: where an exact quantiser lands."""
    T, H = x.shape
    v = x.double().reshape(T, H // group_size, group_size) / scales.double()[..., None]
    return v.clamp(-E4M3_MAX, E4M3_MAX).reshape(T, H)  # (T, H)


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """x of shape (T, H), H = G * group, with the case's value pattern, cast to the dtype."""
    group = case.get("group", 128)
    T, H, dev = case["T"], case.get("H", case.get("G", 1) * group), gen.device
    G = H // group
    x = torch.randn(T, G, group, generator=gen, device=dev)  # (T, G, group)
    values = case.get("values", "normal")
    if values == "spread":  # groups of wildly different magnitude: one scale per group matters
        x = x * 10.0 ** torch.empty(T, G, 1, device=dev).uniform_(-4, 4, generator=gen)
    elif values == "outliers":  # 1% outliers 100x the rest, the reason for small groups
        x = torch.where(torch.rand(x.shape, generator=gen, device=dev) < 0.01, 100 * x, x)
    elif values == "zeros":  # every third group is zero; group 1 of each row sits below the floor
        x[:, ::3] = 0.0
        x[:, 1::3] = x[:, 1::3] * 1e-12
    elif values == "boundary":
        x = _boundary(x, gen)
    elif values == "large":  # near the top of float16, still finite
        x = (x * 1e4).clamp(-6e4, 6e4)
    elif values == "small":  # well below 1, well above the floor: small scales
        x = x * 1e-5
    elif values != "normal":
        raise ValueError(f"unknown value pattern {values!r}")
    return {"x": x.reshape(T, H).to(getattr(torch, case["dtype"])), "group_size": group}


def _boundary(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each group holds its amax at both signs, at random places, plus values just inside it:
    these land exactly on or next to +-448 after scaling."""
    T, G, group = x.shape
    a = 1.5 * x.abs().amax(dim=-1, keepdim=True)  # (T, G, 1) the new group amax
    at = torch.randint(0, group, (T, G, 4), generator=gen, device=x.device)  # (T, G, 4)
    near = torch.tensor([1.0, -1.0, 1 - 2.0**-8, -(1 - 2.0**-5)], device=x.device)  # (4,)
    return x.scatter(-1, at, a * near)  # a repeated index keeps one of the values


def cost(case: dict[str, Any]) -> dict[str, float]:
    group = case.get("group", 128)
    T, H = case["T"], case.get("H", case.get("G", 1) * group)
    size = torch.finfo(getattr(torch, case["dtype"])).bits // 8
    return {"bytes": size * T * H + T * H + 4 * T * H // group, "flops": 3 * T * H}
