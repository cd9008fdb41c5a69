"""MoE layer in PyTorch: route, sort token slots by expert, one GEMM per expert, fp32 combine.

Idea: instead of T*k matrix-vector products (each re-reading an expert's weights), sort the
token slots by expert so each expert's tokens form one contiguous slice of x_sorted; then each
expert is three dense GEMMs on its slice, and its weights are read once per call. Where
torch._grouped_mm runs (CUDA bf16 on sm90+, or the CPU from torch 2.9, rows of 16-byte
multiples) all experts go in one grouped GEMM per projection, the group boundaries read on the
device (no host sync); otherwise a loop over experts with their counts copied to the host.
Memory traffic: weights once (3*E*F*H), x_sorted and the expert outputs written and read once
(2*T*k*H each way), the (T*k, F) activations a few times. FLOPs: 6*T*k*H*F.
Limits: the combine gathers rows back into slot order and upcasts them to fp32 before the
weighted sum: one (T, k, H) fp32 temporary that a fused kernel (see triton.py) avoids.
Run it: `dojo check moe_dispatch --impl solution`, `dojo bench moe_dispatch --impl solution`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def route(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(logits.float(), dim=-1)  # (T, E) fp32
    # stable descending sort: equal probabilities stay in id order (torch.topk promises none)
    top, ids = torch.sort(probs, dim=-1, descending=True, stable=True)  # (T, E)
    weights = top[:, :top_k]  # (T, k)
    return weights / weights.sum(dim=-1, keepdim=True), ids[:, :top_k].contiguous()


def dispatch(
    x: torch.Tensor, ids: torch.Tensor, num_experts: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    k = ids.shape[1]
    flat = ids.reshape(-1)  # (T*k,) slot t*k + j
    order = torch.sort(flat, stable=True).indices  # (T*k,) stable: ties keep slot order
    x_sorted = x.index_select(0, order // k)  # (T*k, H) read T*k*H, write T*k*H
    # torch.bincount would read the largest id back to the host to size its output (a sync on a
    # GPU); adding ones into E zeros stays on the device
    counts = torch.zeros(num_experts, dtype=torch.int64, device=ids.device)  # (E,)
    counts.scatter_add_(0, flat, torch.ones_like(flat))
    return x_sorted, counts, order


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    T, k = weights.shape
    pos = torch.empty_like(order)  # (T*k,) inverse permutation: slot -> sorted position
    pos[order] = torch.arange(order.numel(), device=order.device)
    y = y_sorted.index_select(0, pos).view(T, k, -1).float()  # (T, k, H) slot order, fp32
    # (T, 1, k) @ (T, k, H): the k-term weighted sum as a batched GEMM, accumulated in fp32
    out = torch.bmm(weights.float().unsqueeze(1), y).squeeze(1)  # (T, H)
    return out.to(y_sorted.dtype)


def can_group(x: torch.Tensor, w_down: torch.Tensor) -> bool:
    """torch._grouped_mm wants rows of 16-byte multiples (H, F); on CUDA bf16 on sm90+, on the
    CPU a kernel that exists from torch 2.9 on. Anything else takes the per-expert loop."""
    if not hasattr(torch, "_grouped_mm"):
        return False
    if any(n * x.element_size() % 16 for n in (x.shape[1], w_down.shape[2])):  # H, F rows
        return False
    if x.is_cuda:
        return x.dtype == torch.bfloat16 and torch.cuda.get_device_capability(x.device) >= (9, 0)
    return tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 9)


def expert_linear(
    x_sorted: torch.Tensor, counts: torch.Tensor, w: torch.Tensor, grouped: bool
) -> torch.Tensor:
    """Row block e of x_sorted (counts[e] rows) times w[e]^T, for every expert: (T*k, N)."""
    if grouped:
        offs = torch.cumsum(counts, 0).to(torch.int32)  # (E,) end row of each group, on device
        # mat_b is (E, K, N): the transposed (E, N, K) weights, a stride view, no copy
        return torch._grouped_mm(x_sorted, w.transpose(1, 2), offs=offs)  # read w once
    out = x_sorted.new_empty(x_sorted.shape[0], w.shape[1])  # (T*k, N)
    start = 0
    for e, n in enumerate(counts.tolist()):  # E host ints: a sync on a GPU, free on the CPU
        torch.mm(x_sorted[start : start + n], w[e].T, out=out[start : start + n])  # (n, N)
        start += n
    return out


def moe_forward(
    x: torch.Tensor,
    logits: torch.Tensor,
    w_gate: torch.Tensor,
    w_up: torch.Tensor,
    w_down: torch.Tensor,
    top_k: int,
) -> torch.Tensor:
    weights, ids = route(logits, top_k)  # (T, k), (T, k)
    x_sorted, counts, order = dispatch(x, ids, w_gate.shape[0])  # (T*k, H), (E,), (T*k,)
    grouped = can_group(x, w_down)
    g = expert_linear(x_sorted, counts, w_gate, grouped)  # (T*k, F)
    h = F.silu(g, inplace=True).mul_(expert_linear(x_sorted, counts, w_up, grouped))  # (T*k, F)
    y_sorted = expert_linear(h, counts, w_down, grouped)  # (T*k, H)
    return combine(y_sorted, order, weights)  # (T, H)
