"""Softmax reference with torch.softmax semantics: fp32 math over the last dim, x.dtype out."""

from __future__ import annotations

from typing import Any

import torch

from grader.spec import Problem, Tolerance

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
NEG_INF = float("-inf")


def softmax(x: torch.Tensor) -> torch.Tensor:
    # read M*N, write M*N: the floor for any softmax, so the op is memory-bound
    # torch semantics: -inf entries give exactly 0, a row that is all -inf gives NaN (0/0)
    return torch.softmax(x.float(), dim=-1).to(x.dtype)  # (M, N) fp32 math, rounded once


def tolerance(problem: Problem, dtype: Any, n: int) -> Tolerance:
    """[tolerance.<dtype>] with atol in units of 1/N, floored at one subnormal step of dtype.

    Softmax outputs average 1/N, so a fixed atol of 1e-6 would let every output of a
    262144-long row (about 4e-6 each) be off by 25%: atol applies to N*y, the output measured
    in units of the uniform probability. Outputs below the smallest normal number of the
    output dtype are spaced one subnormal step apart (5.96e-8 in float16), and rounding there
    may differ by one step, so atol never drops below that step.
    """
    tol, info = problem.tol(dtype), torch.finfo(DTYPES[str(dtype).removeprefix("torch.")])
    step = info.smallest_normal * info.eps  # the spacing of subnormals
    return Tolerance(rtol=tol.rtol, atol=max(tol.atol / max(n, 1), step))


def compare(got: Any, expected: torch.Tensor, inputs: dict[str, Any], problem: Problem) -> None:
    from grader.compare import assert_close

    n = inputs["x"].shape[-1]
    assert_close(got, expected, tolerance(problem, expected.dtype, n), name="softmax(x)")


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """x of shape (M, N) with the case's value pattern, drawn in fp32 and cast to the dtype."""
    m, n, dev = case["M"], case["N"], gen.device
    x = torch.randn(m, n, generator=gen, device=dev)  # (M, N)
    values = case.get("values", "normal")
    if values == "wide":  # outputs span e^-200..1: most underflow, a few dominate
        x = x * 30.0
    elif values == "large":  # scattered +-1e4: exp(1e4) overflows fp32 unless the max is subtracted
        u = torch.rand(m, n, generator=gen, device=dev)  # (M, N)
        x = torch.where(u < 0.02, 1e4, torch.where(u > 0.98, -1e4, x))
        x[:, 0] = 1e4  # every row holds at least one 1e4
    elif values == "near_1e4":  # every entry near 1e4: overflow without the shift, yet not one-hot
        x = x + 1e4
    elif values == "offset":  # a large per-row offset: the shift must be the row's own max
        x = x + 500.0 * (2 * torch.rand(m, 1, generator=gen, device=dev) - 1)
    elif values == "neginf":  # masked logits: about 30% of the entries are -inf
        u = torch.rand(m, n, generator=gen, device=dev)  # (M, N)
        x = torch.where(u < 0.3, NEG_INF, x)
    elif values == "neginf_prefix":  # a masked prefix longer than a block, then real values
        x[:, : (2 * n) // 3] = NEG_INF
    elif values == "all_neginf":  # every other row entirely -inf: torch gives NaN there
        x[::2] = NEG_INF
    elif values != "normal":
        raise ValueError(f"unknown value pattern {values!r}")
    return {"x": x.to(DTYPES[case["dtype"]])}


def cost(case: dict[str, Any]) -> dict[str, float]:
    size = torch.finfo(DTYPES[case["dtype"]]).bits // 8
    elems = case["M"] * case["N"]
    return {"bytes": 2 * elems * size, "flops": 5 * elems}  # max, subtract, exp, sum, scale
