"""paged_attention's check: [tolerance.<dtype>] plus the error fp32 scores carry in any fp32
attention, scaled by the largest score and value the sequences attend to."""

from __future__ import annotations

from typing import Any

import torch

from grader.harness.compare import assert_close
from grader.harness.hooks import Hooks
from grader.problem.spec import Tolerance
from reference.paged_attention import magnitudes

SCORE_ULPS = 16  # fp32 rounding allowed in each score, in units of 2^-24 * max|s|


class PagedAttentionHooks(Hooks):
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

    def compare(self, got: Any, expected: torch.Tensor, inputs: dict[str, Any]) -> None:
        assert_close(got, expected, self.tolerance(inputs), name="paged_decode_attention")


HOOKS = PagedAttentionHooks
