"""Assertions with mismatch reports a person can act on: count, first indices, got vs expected."""

from __future__ import annotations

from typing import Any

import torch

from grader.problem.spec import Tolerance

SHOW = 5


def check_like(got: Any, expected: torch.Tensor, name: str = "output") -> None:
    """got must be a plain torch.Tensor with expected's shape, dtype and device."""
    if type(got) is not torch.Tensor:
        kind = type(got).__name__
        raise AssertionError(f"{name} must be a torch.Tensor, got {kind}")
    if got.device.type == "meta" or got.layout != torch.strided:
        raise AssertionError(f"{name} has no real storage ({got.device.type}, {got.layout})")
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        )
    if got.dtype != expected.dtype:
        raise AssertionError(f"{name} has dtype {got.dtype}, expected {expected.dtype}")
    if got.device.type != expected.device.type:
        raise AssertionError(f"{name} is on {got.device}, expected {expected.device}")


def assert_close(got: Any, expected: torch.Tensor, tol: Tolerance, name: str = "output") -> None:
    """|got - expected| <= atol + rtol*|expected| elementwise; NaN matches NaN, inf must match."""
    check_like(got, expected, name)
    g, e = got.detach().double(), expected.detach().double()  # on the device: cheap on a GPU
    err = (g - e).abs()
    near = (err <= tol.atol + tol.rtol * e.abs()) & e.isfinite()  # inf must match exactly
    ok = near | (g == e) | (g.isnan() & e.isnan())
    if not bool(ok.all()):
        where = f"beyond rtol={tol.rtol:g}, atol={tol.atol:g}"
        raise AssertionError(_report(name, g.cpu(), e.cpu(), (~ok).cpu(), where, err.cpu()))


def assert_equal(got: Any, expected: torch.Tensor, name: str = "output") -> None:
    """Exact equality (indices, tokens, counts, transposes); NaN equals NaN."""
    check_like(got, expected, name)
    g, e = got.detach(), expected.detach()
    same = g == e
    if g.is_floating_point():
        same |= g.isnan() & e.isnan()
    if not bool(same.all()):
        g, e, same = g.cpu(), e.cpu(), same.cpu()
        err = (g.double() - e.double()).abs() if g.dtype != torch.bool else None
        raise AssertionError(_report(name, g, e, ~same, "(exact match required)", err))


def _report(
    name: str,
    g: torch.Tensor,
    e: torch.Tensor,
    bad: torch.Tensor,
    where: str,
    err: torch.Tensor | None,
) -> str:
    n_bad, n = int(bad.sum()), bad.numel()
    lines = [f"{name}: {n_bad} of {n} elements differ {where}"]
    if g.is_floating_point():
        stray = int((g.isnan() & ~e.isnan()).sum())
        if stray:
            lines[0] += f"; {stray} NaN where the reference has none"
    if err is not None:
        finite = torch.where(bad & err.isfinite(), err, torch.zeros_like(err))
        if bool(finite.any()):
            at = _index(int(finite.argmax()), bad.shape)
            rel = float(finite.max()) / max(float(e[at].abs()), 1e-30)
            lines[0] += f"; max abs err {float(finite.max()):.3g} at {at} (rel {rel:.3g})"
    for flat in bad.flatten().nonzero()[:SHOW, 0].tolist():
        at = _index(flat, bad.shape)
        lines.append(f"  at {at}: got {_fmt(g[at])}, expected {_fmt(e[at])}")
    return "\n".join(lines)


def _index(flat: int, shape: torch.Size) -> tuple[int, ...]:
    out = []
    for size in reversed(shape):
        out.append(flat % size)
        flat //= size
    return tuple(reversed(out))


def _fmt(v: torch.Tensor) -> str:
    x = v.item()
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def assert_matches(got: Any, expected: Any, tol_for: Any, name: str = "output") -> None:
    """Default comparison of an entry's whole result: floating tensors within the tolerance of
    their dtype (tol_for(dtype)), everything else exactly; tuples element by element."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise AssertionError(
                f"{name} must be a tuple of {len(expected)}, got {type(got).__name__}"
            )
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_matches(g, e, tol_for, f"{name}[{i}]")
    elif isinstance(expected, torch.Tensor) and expected.is_floating_point():
        assert_close(got, expected, tol_for(expected.dtype), name)
    elif isinstance(expected, torch.Tensor):
        assert_equal(got, expected, name)
    elif got != expected:
        raise AssertionError(f"{name}: got {got!r}, expected {expected!r}")
