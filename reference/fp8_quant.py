"""Per-token-group FP8 (e4m3fn) quantisation, DeepSeek-V3 1x128 style, its dequant, and the
comparison rules for FP8 codes (exact, or one code step where the quotient sits on a tie)."""

from __future__ import annotations

from typing import Any

import torch

from grader.spec import Problem

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
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


def code_mismatches(
    q: torch.Tensor, expected: torch.Tensor, x: torch.Tensor, scales: torch.Tensor, group_size: int
) -> torch.Tensor:
    """(T, H) bool: where q is neither the reference code nor an accepted tie neighbour.

    Accepted: q equals the reference value (+0 and -0 count as equal), or q and the reference
    are neighbouring e4m3 values and the exact quotient x/scale lies within TIE_BAND (relative,
    about 8 fp32 ulps) of the midpoint between them. There the rounding direction depends on
    the last bits of an fp32 quotient, which a kernel computing x * (1/scale), or a scale one
    ulp away, may legitimately flip. Anywhere else a one-step difference is a rounding bug.
    """
    table = e4m3_values(q.device)
    got, want = q.double(), expected.double()  # (T, H)
    at_got = torch.searchsorted(table, got.contiguous()).clamp(max=table.numel() - 1)
    at_want = torch.searchsorted(table, want.contiguous())
    neighbours = (table[at_got] == got) & ((at_got - at_want).abs() == 1)
    mid = (got + want) / 2
    on_tie = (quotients(x, scales, group_size) - mid).abs() <= TIE_BAND * mid.abs()
    return ~((got == want) | (neighbours & on_tie))  # NaN codes are never accepted


def mismatch_report(
    q: torch.Tensor,
    expected: torch.Tensor,
    x: torch.Tensor,
    scales: torch.Tensor,
    group_size: int,
    bad: torch.Tensor,
) -> str:
    v = quotients(x, scales, group_size)
    lines = [
        f"q: {int(bad.sum())} of {bad.numel()} codes differ from the reference "
        f"(group_size={group_size}; one code step is allowed only where x/scale sits "
        "on a rounding tie)"
    ]
    for t, h in bad.nonzero()[:5].tolist():
        lines.append(
            f"  at ({t}, {h}): got {float(q[t, h].float()):.6g}, expected "
            f"{float(expected[t, h].float()):.6g} (x/scale = {float(v[t, h]):.9g})"
        )
    return "\n".join(lines)


def check_codes(
    q: Any, expected: torch.Tensor, x: torch.Tensor, scales: torch.Tensor, group_size: int
) -> None:
    from grader.compare import check_like

    check_like(q, expected, "q")
    bad = code_mismatches(q, expected, x, scales, group_size)
    if bool(bad.any()):
        raise AssertionError(mismatch_report(q, expected, x, scales, group_size, bad))


def check_scales(got: Any, expected: torch.Tensor, problem: Problem) -> None:
    """Within [tolerance.float32]: two fp32 ulps, so max(amax, 1e-10) / 448 computed with a
    correctly rounded division, Triton's approximate fp32 division or a multiply by 1/448 all
    pass, while an amax taken in float16 (2^-12 relative) or from the wrong elements fails."""
    from grader.compare import assert_close

    assert_close(got, expected, problem.tol("float32"), name="scales")


def compare(got: Any, expected: Any, inputs: dict[str, Any], problem: Problem) -> None:
    """The benchmark's check of quant_fp8: scales first (the codes depend on them), then q."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise AssertionError(f"quant_fp8 must return (q, scales), got {type(got).__name__}")
    check_scales(got[1], expected[1], problem)
    check_codes(got[0], expected[0], inputs["x"], expected[1], inputs["group_size"])


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
    return {"x": x.reshape(T, H).to(DTYPES[case["dtype"]]), "group_size": group}


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
    size = torch.finfo(DTYPES[case["dtype"]]).bits // 8
    return {"bytes": size * T * H + T * H + 4 * T * H // group, "flops": 3 * T * H}
