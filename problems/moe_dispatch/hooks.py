"""moe_dispatch's cuBLAS baseline: one dense GEMM with the MoE layer's FLOPs."""

from __future__ import annotations

from typing import Any

import torch

from grader.harness.hooks import Hooks


class MoeDispatchHooks(Hooks):
    def baseline_gemm(self, case: dict[str, Any]) -> tuple[int, int, int, torch.dtype]:
        """The T*k routed rows (M) times all three projections stacked as if one expert took
        every row: N = 3F, K = H, so 2*M*N*K = 6*T*k*H*F. It streams the same activation rows as
        the experts but hits one weight matrix, with no routing, permutation or combine: the
        ideal the grouped GEMM chases."""
        dtype = getattr(torch, case.get("dtype", "bfloat16"))
        return case["T"] * case["k"], 3 * case["F"], case["H"], dtype


HOOKS = MoeDispatchHooks
