"""fp8_quant's checks: scales within two fp32 ulps, codes exact except one step at a rounding
tie of the exact quotient x/scale."""

from __future__ import annotations

from typing import Any

import torch

from grader.harness.compare import assert_close, check_like
from grader.harness.hooks import Hooks
from reference.fp8_quant import TIE_BAND, e4m3_values, quotients


class Fp8QuantHooks(Hooks):
    def compare(self, got: Any, expected: Any, inputs: dict[str, Any]) -> None:
        """The benchmark's check of quant_fp8: scales first (the codes depend on them), then q."""
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"quant_fp8 must return (q, scales), got {type(got).__name__}")
        self.check_scales(got[1], expected[1])
        self.check_codes(got[0], expected[0], inputs["x"], expected[1], inputs["group_size"])

    def check_scales(self, got: Any, expected: torch.Tensor) -> None:
        """Within [tolerance.float32]: two fp32 ulps, so max(amax, 1e-10) / 448 computed with a
        correctly rounded division, Triton's approximate fp32 division or a multiply by 1/448 all
        pass, while an amax taken in float16 (2^-12 relative) or from the wrong elements fails."""
        assert_close(got, expected, self.problem.tol("float32"), name="scales")

    def check_codes(
        self, q: Any, expected: torch.Tensor, x: torch.Tensor, scales: torch.Tensor, group: int
    ) -> None:
        check_like(q, expected, "q")
        bad = self.code_mismatches(q, expected, x, scales, group)
        if bool(bad.any()):
            raise AssertionError(self.mismatch_report(q, expected, x, scales, group, bad))

    @staticmethod
    def code_mismatches(
        q: torch.Tensor, expected: torch.Tensor, x: torch.Tensor, scales: torch.Tensor, group: int
    ) -> torch.Tensor:
        """(T, H) bool: where q is neither the reference code nor an accepted tie neighbour.

        Accepted: q equals the reference value (+0 and -0 count as equal), or q and the
        reference are neighbouring e4m3 values and the exact quotient x/scale lies within
        TIE_BAND (relative, about 8 fp32 ulps) of the midpoint between them. There the rounding
        direction depends on the last bits of an fp32 quotient, which a kernel computing
        x * (1/scale), or a scale one ulp away, may legitimately flip. Anywhere else a one-step
        difference is a rounding bug.
        """
        table = e4m3_values(q.device)
        got, want = q.double(), expected.double()  # (T, H)
        at_got = torch.searchsorted(table, got.contiguous()).clamp(max=table.numel() - 1)
        at_want = torch.searchsorted(table, want.contiguous())
        neighbours = (table[at_got] == got) & ((at_got - at_want).abs() == 1)
        mid = (got + want) / 2
        on_tie = (quotients(x, scales, group) - mid).abs() <= TIE_BAND * mid.abs()
        return ~((got == want) | (neighbours & on_tie))  # NaN codes are never accepted

    @staticmethod
    def mismatch_report(
        q: torch.Tensor,
        expected: torch.Tensor,
        x: torch.Tensor,
        scales: torch.Tensor,
        group: int,
        bad: torch.Tensor,
    ) -> str:
        v = quotients(x, scales, group)
        lines = [
            f"q: {int(bad.sum())} of {bad.numel()} codes differ from the reference "
            f"(group_size={group}; one code step is allowed only where x/scale sits "
            "on a rounding tie)"
        ]
        for t, h in bad.nonzero()[:5].tolist():
            lines.append(
                f"  at ({t}, {h}): got {float(q[t, h].float()):.6g}, expected "
                f"{float(expected[t, h].float()):.6g} (x/scale = {float(v[t, h]):.9g})"
            )
        return "\n".join(lines)


HOOKS = Fp8QuantHooks
