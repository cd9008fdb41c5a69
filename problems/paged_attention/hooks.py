"""paged_attention's check: [tolerance.<dtype>] plus the error fp32 scores carry in any fp32
attention, scaled by the largest score and value the sequences attend to."""

from __future__ import annotations

from typing import Any

import torch

from grader.harness.compare import assert_close, check_like
from grader.harness.hooks import Hooks
from grader.problem.spec import Tolerance
from reference.paged_attention import magnitudes, paged_decode_attention

SCORE_ULPS = 16  # fp32 rounding allowed in each score, in units of 2^-24 * max|s|
# Half an ulp (relative) of a weight p in q's half type: a peer that rounds p to it before p @ V
# (SDPA and FlexAttention do, as FlashAttention does) moves out[i] by up to twice that (the
# weighted sum and its normaliser) times sum_n p_n |v_n[i]| / sum_n p_n.
P_ROUNDING = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


class PagedAttentionHooks(Hooks):
    p_rounding = False  # set on relaxed() copies: the bench's bound for an inexact peer

    def tolerance(self, args: dict[str, Any]) -> Tolerance:
        """[tolerance.<dtype>] plus the error that fp32 scores carry whatever the implementation.

        A score s is an fp32 number, rounded at a relative 2^-24 of its size (and a D-term dot
        product adds a few such roundings), so every weight exp(s - m) has a relative error of
        about 2^-24 * |s|, and the output an absolute error of that times |v|. Scores of ~1e3
        (values "large") make that ~1e-4, more than an ulp of fp32 output, in any fp32
        attention, the reference's included. atol grows by SCORE_ULPS such units (measured:
        under 2 between the solution and the reference; an fp16-accumulated softmax is 300 or
        more away at unit-scale scores).
        """
        tol = self.problem.tol(args["q"].dtype)
        s_max, v_max = magnitudes(args)
        unit = 2.0**-24 * s_max * v_max
        return Tolerance(tol.rtol, tol.atol + SCORE_ULPS * unit)

    def relaxed(self, factor: float) -> Hooks:
        """The bench's bound for a peer that rounds differently: factor times the tolerance,
        plus, per element, the error of the weights p rounded to q's half type before p @ V.
        SDPA's outputs near zero are off by that much on an H200 (-0.000488 against -0.000404
        in bf16), far past 4x atol; a real bug (the GQA mapping, a page's tail, no max) moves
        an output by a share of |v|, not by an ulp of p, and stays wrong."""
        hooks = super().relaxed(factor)
        hooks.p_rounding = True
        return hooks

    def compare(self, got: Any, expected: torch.Tensor, inputs: dict[str, Any]) -> None:
        if self.p_rounding and inputs["q"].dtype in P_ROUNDING:
            check_like(got, expected, "paged_decode_attention")
            got = _less_rounding(got, expected, _rounding_bound(inputs))
            expected = expected.double()
        assert_close(got, expected, self.tolerance(inputs), name="paged_decode_attention")


def _rounding_bound(inputs: dict[str, Any]) -> torch.Tensor:
    """Per output element, 2 * half an ulp of p * sum_n p_n |v_n| / sum_n p_n: the attention
    of |v|, computed by the reference."""
    absolute = paged_decode_attention(**{**inputs, "v_cache": inputs["v_cache"].abs()})
    return 2 * P_ROUNDING[inputs["q"].dtype] * absolute.double()  # (B, Hq, D)


def _less_rounding(got: torch.Tensor, expected: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """got moved toward expected by up to bound (NaN and inf stay what they are)."""
    g, e = got.double(), expected.double()
    diff = g - e
    return torch.where(g == e, e, e + diff.sign() * (diff.abs() - bound).clamp_min(0))


HOOKS = PagedAttentionHooks
