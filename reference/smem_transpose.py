"""Matrix transpose reference: x.t() copied into a new contiguous tensor, checked bit for bit,
plus the padded shared-memory layout that the layout checks accept (to compare with yours)."""

from __future__ import annotations

from typing import Any

import torch

# The layout contract, as an obviously-correct example: one pad word per tile row.
TILE = 32
SMEM_WORDS = TILE * (TILE + 1)


def smem_offset(row: int, col: int) -> int:
    return row * (TILE + 1) + col


def transpose(x: torch.Tensor) -> torch.Tensor:
    # read 4MN bytes, write 4MN: a transpose moves every element once and computes nothing.
    # x.t().contiguous() in effect, but always a new tensor: for M == 1 or N == 1, x.t() is
    # already contiguous and .contiguous() would hand back a view of x.
    return x.t().clone(memory_format=torch.contiguous_format)  # (N, M)


SPECIAL = (0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, -1e-40, 3.4e38, -1.0)
NAN_PAYLOADS = (0x7FC00001, 0x7F800123, -0x00400001)  # quiet and signalling NaNs, a negative one


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """x of shape (M, N), a contiguous view `offset` floats into its buffer (misaligned for
    float4), with values: normal (random), index (x[i, j] = i*N + j mod 2^24, so a wrong value
    names its source) or special (zeros of both signs, infinities, NaNs, subnormals)."""
    m, n, skew, dev = case["M"], case["N"], case.get("offset", 0), gen.device
    values = case.get("values", "normal")
    if values == "index":
        base = (torch.arange(m * n + skew, device=dev) % 2**24).float()  # exact in float32
    else:
        base = torch.randn(m * n + skew, generator=gen, device=dev)  # (M*N + offset,)
    if values == "special":
        _sprinkle_specials(base, gen)
    return {"x": base[skew:].view(m, n)}  # (M, N), contiguous


def _sprinkle_specials(base: torch.Tensor, gen: torch.Generator) -> None:
    """Overwrite about half of base with special floats and NaNs with unusual bit patterns."""
    dev, n = base.device, base.numel()
    where = torch.rand(n, generator=gen, device=dev) < 0.5
    pick = torch.randint(len(SPECIAL), (n,), generator=gen, device=dev)
    specials = torch.tensor(SPECIAL, dtype=torch.float32, device=dev)[pick]
    base[where] = specials[where]
    bits = base.view(torch.int32)
    payloads = torch.tensor(NAN_PAYLOADS, dtype=torch.int32, device=dev)
    nan_at = torch.rand(n, generator=gen, device=dev) < 0.1
    bits[nan_at] = payloads[torch.randint(len(NAN_PAYLOADS), (n,), generator=gen, device=dev)][
        nan_at
    ]


def cost(case: dict[str, Any]) -> dict[str, float]:
    return {"bytes": 8 * case["M"] * case["N"], "flops": 0}
