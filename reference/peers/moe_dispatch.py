"""moe_dispatch's peer: the MoE layer as a PyTorch user writes it, tokens sorted by expert and
dense GEMMs per expert (torch._grouped_mm where it runs: the readable solution). The routing is
data-dependent, so torch.compile of it would time recompilations, not a kernel; none is
declared. `dojo bench moe_dispatch --peers` checks it and times it beside yours."""

from __future__ import annotations

import torch

from solutions.moe_dispatch.torch import moe_forward


def per_expert_gemms(
    x: torch.Tensor,
    logits: torch.Tensor,
    w_gate: torch.Tensor,
    w_up: torch.Tensor,
    w_down: torch.Tensor,
    top_k: int,
) -> torch.Tensor:
    return moe_forward(x, logits, w_gate, w_up, w_down, top_k)  # (T, H)
