"""MoE layer reference: softmax top-k routing, a stable sort of token slots by expert, an fp32
weighted combine, and the obviously-correct per-token loop over SwiGLU experts."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

LOGIT_STEP = 2.0**-10  # logits live on this grid: distinct values give distinct fp32 softmax probs


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    # read T*E, write 2*T*k: negligible next to the experts
    probs = torch.softmax(logits.float(), dim=-1)  # (T, E) fp32 whatever the logits dtype
    # torch.topk does not promise an order among equal values; a stable descending sort keeps
    # equal probabilities in id order, so ties go to the lower expert id
    top, ids = torch.sort(probs, dim=-1, descending=True, stable=True)  # (T, E), (T, E)
    weights = top[:, :top_k]  # (T, k)
    weights = weights / weights.sum(dim=-1, keepdim=True)  # renormalise over the chosen k
    return weights, ids[:, :top_k].contiguous()


def dispatch(
    x: torch.Tensor, ids: torch.Tensor, num_experts: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # read T*k ids and T*k rows of x (each token once per expert it visits), write T*k*H
    k = ids.shape[1]
    flat = ids.reshape(-1)  # (T*k,) slot s = t*k + j holds the j-th expert of token t
    order = torch.sort(flat, stable=True).indices  # (T*k,) equal ids keep slot order
    x_sorted = x[order // k]  # (T*k, H) rows grouped by expert, each group in token order
    counts = torch.bincount(flat, minlength=num_experts)  # (E,) int64
    return x_sorted, counts, order


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    # read T*k*H + T*k, write T*H
    T, k = weights.shape
    pos = torch.empty_like(order)  # (T*k,) where slot s sits in the sorted order
    pos[order] = torch.arange(order.numel(), device=order.device)
    y = y_sorted[pos].view(T, k, -1).float()  # (T, k, H) back in slot order, upcast
    out = (weights.float().unsqueeze(-1) * y).sum(dim=1)  # (T, H) fp32 accumulation
    return out.to(y_sorted.dtype)


def _expert(
    x_t: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor
) -> torch.Tensor:
    """One SwiGLU expert on one token: (silu(x W_gate^T) * (x W_up^T)) W_down^T, in x.dtype."""
    h = F.silu(w_gate @ x_t) * (w_up @ x_t)  # (F,)
    return w_down @ h  # (H,)


def moe_forward(
    x: torch.Tensor,
    logits: torch.Tensor,
    w_gate: torch.Tensor,
    w_up: torch.Tensor,
    w_down: torch.Tensor,
    top_k: int,
) -> torch.Tensor:
    # Each (token, expert) pair reads that expert's 3*F*H weights: T*k matrix-vector products,
    # the slow path a grouped GEMM replaces. This loop is also the CPU perf baseline.
    weights, ids = route(logits, top_k)  # (T, k), (T, k)
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device)  # (T, H) fp32 accumulator
    for t, experts in enumerate(ids.tolist()):
        for j, e in enumerate(experts):
            y = _expert(x[t], w_gate[e], w_up[e], w_down[e])  # (H,) in x.dtype
            out[t] += weights[t, j] * y.float()
    return out.to(x.dtype)


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """moe_forward's arguments; weights scaled so every activation stays O(1)."""
    T, E, H, Fd = case["T"], case["E"], case["H"], case["F"]
    dtype, dev = getattr(torch, case.get("dtype", "float32")), gen.device
    x = torch.randn(T, H, generator=gen, device=dev)  # (T, H)
    w_gate = torch.randn(E, Fd, H, generator=gen, device=dev) / H**0.5  # (E, F, H)
    w_up = torch.randn(E, Fd, H, generator=gen, device=dev) / H**0.5  # (E, F, H)
    w_down = torch.randn(E, H, Fd, generator=gen, device=dev) / Fd**0.5  # (E, H, F)
    return {
        "x": x.to(dtype),
        "logits": make_logits(case, gen),
        "w_gate": w_gate.to(dtype),
        "w_up": w_up.to(dtype),
        "w_down": w_down.to(dtype),
        "top_k": case["k"],
    }


def make_logits(case: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Router logits (T, E) float32 with the case's pattern. Values sit on a 2^-10 grid so that
    distinct logits never round to equal fp32 probabilities: a tie is a tie on purpose."""
    T, E, dev = case["T"], case["E"], gen.device
    pattern = case.get("logits", "normal")
    if pattern == "ties":  # few distinct values: many exact ties at the top-k boundary
        return torch.randint(-2, 3, (T, E), generator=gen, device=dev).float() * 0.5
    logits = torch.randn(T, E, generator=gen, device=dev) * 2.0  # (T, E)
    if pattern == "skew":  # one hot expert: every token's first choice is expert E // 2
        logits[:, E // 2] += 40.0
    elif pattern == "empty":  # only the first half of the experts can win: the rest stay empty
        logits[:, (E + 1) // 2 :] -= 40.0
    return torch.round(logits / LOGIT_STEP) * LOGIT_STEP


def cost(case: dict[str, Any]) -> dict[str, float]:
    T, E, k, H, Fd = case["T"], case["E"], case["k"], case["H"], case["F"]
    size = torch.finfo(getattr(torch, case.get("dtype", "float32"))).bits // 8
    # weights once, x in and out, x_sorted and the expert outputs written and read once each
    traffic = 3 * E * Fd * H + 2 * T * H + 4 * T * k * H + 2 * T * k * Fd
    return {"bytes": traffic * size, "flops": 6 * T * k * H * Fd}
