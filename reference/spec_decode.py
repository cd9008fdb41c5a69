"""Speculative-decoding verification reference: the rejection-sampling rule of Leviathan et al.
and Chen et al. with explicit uniforms, written as a plain per-row loop, plus the greedy rule."""

from __future__ import annotations

from typing import Any

import torch

GRID = 2.0**-24  # test distributions are multiples of this: every partial sum is exact in fp32


def _sample(weights: torch.Tensor, u: torch.Tensor) -> int:
    """Inverse CDF in float32: the first j with cumsum[j] > u * total, total = cumsum[-1]."""
    cdf = torch.cumsum(weights, dim=0)  # (V,)
    threshold = u * cdf[-1]  # a float32 product, rounded once; < total whenever u < 1
    above = torch.nonzero(cdf > threshold)  # (n, 1) indices past the threshold
    if above.numel() == 0:
        raise ValueError(f"u * total = {float(threshold)} is not below the total: u must be < 1")
    return int(above[0])


def verify(
    draft_tokens: torch.Tensor,
    draft_probs: torch.Tensor,
    target_probs: torch.Tensor,
    accept_u: torch.Tensor,
    sample_u: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    # Per row: G gathered probabilities decide the stop position; then one row of p (and q) is
    # read to sample. Reading every row of both tensors is what a fast version avoids.
    B, G = draft_tokens.shape
    tokens = torch.full((B, G + 1), -1, dtype=torch.int64, device=draft_tokens.device)
    counts = torch.zeros(B, dtype=torch.int64, device=draft_tokens.device)
    for b in range(B):
        for i in range(G):
            x = int(draft_tokens[b, i])
            p, q = target_probs[b, i], draft_probs[b, i]  # (V,), (V,)
            if accept_u[b, i] * q[x] < p[x]:  # accept with probability min(1, p(x) / q(x))
                tokens[b, i] = x
                continue
            residual = torch.clamp(p - q, min=0)  # (V,) where the target wants more than drafted
            if not bool(residual.any()):  # no mass left (p <= q everywhere): fall back to p
                residual = p
            tokens[b, i] = _sample(residual, sample_u[b])
            counts[b] = i + 1
            break
        else:  # every draft accepted: a bonus token from the target's last distribution
            tokens[b, G] = _sample(target_probs[b, G], sample_u[b])
            counts[b] = G + 1
    return tokens, counts


def verify_greedy(
    draft_tokens: torch.Tensor, target_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    # Accept while the draft equals the target's argmax (first index on ties), then emit it.
    B, G = draft_tokens.shape
    tokens = torch.full((B, G + 1), -1, dtype=torch.int64, device=draft_tokens.device)
    counts = torch.zeros(B, dtype=torch.int64, device=draft_tokens.device)
    for b in range(B):
        for i in range(G + 1):
            best = int(torch.argmax(target_logits[b, i]))
            tokens[b, i] = best
            if i == G or int(draft_tokens[b, i]) != best:
                counts[b] = i + 1
                break
    return tokens, counts


def to_grid(probs: torch.Tensor) -> torch.Tensor:
    """Round each row to multiples of 2^-24 summing to exactly 1 (the rounding slack goes to the
    row's largest entry). Any summation order is then exact in fp32, so every correct
    implementation samples the same token as the reference."""
    n = torch.round(probs.double() / GRID)  # (..., V) integer counts of 2^-24
    fix = 2**24 - n.sum(dim=-1, keepdim=True)  # (..., 1)
    n.scatter_add_(-1, n.argmax(dim=-1, keepdim=True), fix)
    assert bool((n >= 0).all()), "rounding slack larger than the largest probability"
    return (n * GRID).float()


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """Target rows p = softmax(spread * z), draft rows q = softmax of the same logits plus noise
    of size `drift` (small drift: high acceptance), drafts sampled from q, on the 2^-24 grid.
    support = k > 0 keeps only the k most likely tokens of each row (the rest exactly zero)."""
    B, G, V, dev = case["B"], case["G"], case["V"], gen.device
    logits = case.get("spread", 2.0) * torch.randn(B, G + 1, V, generator=gen, device=dev)
    noise = case.get("drift", 1.0) * torch.randn(B, G, V, generator=gen, device=dev)
    p_logits, q_logits = logits, logits[:, :G] + noise  # (B, G+1, V), (B, G, V)
    if case.get("support", 0) > 0:
        p_logits, q_logits = (
            _keep_top(p_logits, case["support"]),
            _keep_top(q_logits, case["support"]),
        )
    target = to_grid(torch.softmax(p_logits, dim=-1))  # (B, G+1, V)
    draft = to_grid(torch.softmax(q_logits, dim=-1))  # (B, G, V)
    drafted = torch.multinomial(draft.view(B * G, V), 1, generator=gen).view(B, G)
    return {
        "draft_tokens": drafted,
        "draft_probs": draft,
        "target_probs": target,
        "accept_u": torch.rand(B, G, generator=gen, device=dev),
        "sample_u": torch.rand(B, generator=gen, device=dev),
    }


def _keep_top(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = torch.topk(logits, min(k, logits.shape[-1]), dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def make_greedy_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """Logits on a 0.25 grid (ties happen when V is small); drafts equal the target's argmax
    with probability `agree` (default 0.8), else a random token."""
    B, G, V, dev = case["B"], case["G"], case["V"], gen.device
    logits = torch.round(4 * torch.randn(B, G + 1, V, generator=gen, device=dev)) / 4
    best = logits[:, :G].argmax(dim=-1)  # (B, G)
    other = torch.randint(0, V, (B, G), generator=gen, device=dev)
    agree = torch.rand(B, G, generator=gen, device=dev) < case.get("agree", 0.8)
    return {"draft_tokens": torch.where(agree, best, other), "target_logits": logits}


def cost(case: dict[str, Any]) -> dict[str, float]:
    # the p and q rows at each row's stop position, 4 bytes each; a few flops per element
    return {"bytes": 8 * case["B"] * case["V"], "flops": 4 * case["B"] * case["V"]}
