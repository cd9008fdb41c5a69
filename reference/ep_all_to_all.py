"""Expert-parallel MoE reference: out[t] = sum_j w[t, j] * expert_fn(ids[t, j], x[t]) computed on
one rank with no communication, and one rank's inputs (routings from uniform to skewed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

SLUG = "ep_all_to_all"
ROUTINGS = ("uniform", "skew", "one_rank", "sparse", "zipf")


def ep_moe(
    x: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    expert_fn: Callable[[int, torch.Tensor], torch.Tensor],
    num_experts: int,
    group: Any = None,
) -> torch.Tensor:
    """The single-process MoE. `group` is accepted so that every rank can call this on its own
    tokens with ep_moe's signature; it is unused: nothing is sent, every expert runs right here."""
    T, k = ids.shape
    if ids.numel() and not 0 <= int(ids.min()) <= int(ids.max()) < num_experts:
        raise ValueError(
            f"expert ids must lie in [0, {num_experts}), got [{int(ids.min())}, {int(ids.max())}]"
        )
    y = x.new_empty((T, k, x.shape[1]))  # (T, k, H): y[t, j] = expert_fn(ids[t, j], x[t])
    for e in ids.unique().tolist():
        hit = ids == e  # (T, k) the slots routed to expert e
        y[hit] = expert_fn(e, x[hit.nonzero()[:, 0]])  # rows in the row-major order of `hit`
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device)  # (T, H) fp32 accumulator
    for j in range(k):
        out += weights[:, j, None] * y[:, j].float()  # read T*H, write T*H per slot
    return out.to(x.dtype)


def dispatch_plan(
    ids: torch.Tensor, num_experts: int, world_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(order, send_counts): order is a stable sort of the slots t*k+j by expert id, so the rows
    bound for rank 0 come first, then rank 1's, ...; send_counts[d] = slots routed to rank d."""
    if num_experts % world_size:
        raise ValueError(f"num_experts={num_experts} is not a multiple of world_size={world_size}")
    flat = ids.reshape(-1)  # (T*k,) slot t*k+j
    order = torch.argsort(flat, stable=True)  # (T*k,)
    owner = flat // (num_experts // world_size)  # (T*k,) rank that owns each slot's expert
    return order, torch.bincount(owner, minlength=world_size)


def combine(y_sorted: torch.Tensor, order: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """out[t] = sum_j weights[t, j] * y_sorted[position of slot t*k+j in order], in fp32: the
    step after the results come back in dispatch order."""
    T, k = weights.shape
    y = torch.empty_like(y_sorted)  # (T*k, H) back in slot order t*k+j
    y[order] = y_sorted
    y = y.view(T, k, y_sorted.shape[1])  # (T, k, H)
    out = torch.zeros((T, y_sorted.shape[1]), dtype=torch.float32, device=y_sorted.device)
    for j in range(k):
        out += weights[:, j, None] * y[:, j].float()
    return out.to(y_sorted.dtype)


def route(T: int, E: int, W: int, k: int, routing: str, gen: torch.Generator) -> torch.Tensor:
    """(T, k) int64 ids, k distinct experts per token, drawn with one of ROUTINGS:
    uniform; skew (every token's first choice is the last expert, owned by the last rank);
    one_rank (only the last rank's experts); sparse (about half of the experts, the others get
    nothing); zipf (popularity falling off as 1/rank^1.2 over a random order)."""
    if not 1 <= k <= E or E % W or routing not in ROUTINGS:
        raise ValueError(
            f"need 1 <= k <= E, E % W == 0, routing in {ROUTINGS}: got k={k}, E={E}, "
            f"W={W}, routing={routing!r}"
        )
    dev = gen.device
    probs = _popularity(E, W, k, routing, gen)  # (E,) unnormalised, >= k nonzero
    if T == 0:
        return torch.empty((0, k), dtype=torch.int64, device=dev)
    if routing != "skew":
        return torch.multinomial(
            probs.expand(T, E).contiguous(), k, replacement=False, generator=gen
        )
    first = torch.full((T, 1), E - 1, dtype=torch.int64, device=dev)  # (T, 1) the hot expert
    if k == 1:
        return first
    probs[E - 1] = 0.0
    rest = torch.multinomial(
        probs.expand(T, E).contiguous(), k - 1, replacement=False, generator=gen
    )
    return torch.cat([first, rest], dim=1)  # (T, k)


def _popularity(E: int, W: int, k: int, routing: str, gen: torch.Generator) -> torch.Tensor:
    dev = gen.device
    probs = torch.ones(E, device=dev)
    if routing == "one_rank":  # the last rank's experts (and its neighbours' when k > E/W)
        per_rank = E // W
        used = [((W - 1) * per_rank + i) % E for i in range(max(per_rank, k))]
        probs = torch.zeros(E, device=dev)
        probs[used] = 1.0
    elif routing == "sparse":
        used = torch.randperm(E, generator=gen, device=dev)[: max(k, E // 2)]
        probs = torch.zeros(E, device=dev)
        probs[used] = 1.0
    elif routing == "zipf":
        ranks = torch.randperm(E, generator=gen, device=dev).float()
        probs = (ranks + 1.0) ** -1.2
    return probs


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """One rank's inputs: x (T, H), ids (T, k), weights (T, k) fp32 (softmax: positive, sum 1),
    num_experts. The caller adds expert_fn (and group)."""
    T, H, E, k = case["T"], case["H"], case["E"], case["k"]
    dev = gen.device
    x = torch.randn(T, H, generator=gen, device=dev).to(getattr(torch, case["dtype"]))  # (T, H)
    ids = route(T, E, case.get("W", 1), k, case.get("routing", "uniform"), gen)  # (T, k)
    weights = torch.softmax(torch.randn(T, k, generator=gen, device=dev), dim=-1)  # (T, k)
    return {"x": x, "ids": ids, "weights": weights, "num_experts": E}


def cost(case: dict[str, Any]) -> dict[str, float]:
    """Bytes each rank sends (and receives) through all_to_all: T*k rows out, T*k rows back."""
    size = torch.finfo(getattr(torch, case["dtype"])).bits // 8
    return {"bytes": 2 * case["T"] * case["k"] * case["H"] * size, "flops": 0.0}
