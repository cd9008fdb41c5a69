"""Your MoE routing, dispatch and combine in PyTorch. Edit this file, then run
`dojo check moe_dispatch` and `dojo bench moe_dispatch`. The statement is in README.md."""

from __future__ import annotations

import torch


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    # 1. probs = softmax over E in fp32
    # 2. the top_k experts per token, largest first; equal probabilities: lower id first
    # 3. weights = their probs divided by their sum; return (weights (T, k) fp32, ids (T, k) i64)
    raise NotImplementedError("write route")


def dispatch(x: torch.Tensor, ids: torch.Tensor,
             num_experts: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Slot s = t*k + j. order: the slots stably sorted by expert id (T*k,) int64;
    # x_sorted[i] = x[order[i] // k]; counts[e] = slots routed to e, (E,) int64.
    raise NotImplementedError("write dispatch")


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    # out[t] = sum_j weights[t, j] * (row of y_sorted holding slot t*k + j), summed in fp32,
    # returned in y_sorted.dtype with shape (T, H).
    raise NotImplementedError("write combine")


def moe_forward(x: torch.Tensor, logits: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor,
                w_down: torch.Tensor, top_k: int) -> torch.Tensor:
    # route -> dispatch -> per expert e: (silu(xe @ w_gate[e].T) * (xe @ w_up[e].T)) @ w_down[e].T
    # on its contiguous slice of x_sorted -> combine. Loop over experts, never over tokens.
    raise NotImplementedError("write moe_forward from route, dispatch and combine")
