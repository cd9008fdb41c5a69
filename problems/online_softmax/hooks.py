"""online_softmax's check: per-dtype tolerance with atol in units of the uniform probability."""

from __future__ import annotations

from typing import Any

import torch

from grader.harness.compare import assert_close
from grader.harness.hooks import Hooks
from grader.problem.spec import Tolerance


class OnlineSoftmaxHooks(Hooks):
    def tolerance(self, dtype: Any, n: int) -> Tolerance:
        """[tolerance.<dtype>] with atol in units of 1/N, floored at one subnormal step of dtype.

        Softmax outputs average 1/N, so a fixed atol of 1e-6 would let every output of a
        262144-long row (about 4e-6 each) be off by 25%: atol applies to N*y, the output
        measured in units of the uniform probability. Outputs below the smallest normal number
        of the output dtype are spaced one subnormal step apart (5.96e-8 in float16), and
        rounding there may differ by one step, so atol never drops below that step.
        """
        name = str(dtype).removeprefix("torch.")
        tol, info = self.problem.tol(name), torch.finfo(getattr(torch, name))
        step = info.smallest_normal * info.eps  # the spacing of subnormals
        return Tolerance(rtol=tol.rtol, atol=max(tol.atol / max(n, 1), step))

    def compare(self, got: Any, expected: torch.Tensor, inputs: dict[str, Any]) -> None:
        n = inputs["x"].shape[-1]
        assert_close(got, expected, self.tolerance(expected.dtype, n), name="softmax(x)")


HOOKS = OnlineSoftmaxHooks
