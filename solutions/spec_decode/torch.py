"""Speculative-decoding verification in PyTorch: every row at once, no host sync.

Idea: the accept decisions need only B*G gathered probabilities p_i(x_i) and q_i(x_i); a
cumulative product of the accept flags gives each row's stop position n (the number accepted).
Then one target row and one draft row per batch row are gathered at n and turned into the
residual max(0, p - q) (just p for rows that accepted everything: their q term is multiplied
by 0). The inverse CDF runs in two levels, as the Triton kernel does: per-block sums and their
running sum locate the block where u * total is passed, and only that block gets a cumsum.
Rows with no residual mass switch to p's block sums with torch.where, not a Python branch, so
nothing waits on the GPU (gpt-fast style).
Memory traffic: the 2*B*G gathered scalars, then about six passes over (B, V) floats: the two
row gathers (read and write), multiply-subtract-clamp in q's buffer (no new tensor), the
block sums of the residual and of p; the rest is (B, V/64) or (B, 64). A fused kernel reads p
and q once (8*B*V bytes, see triton.py); eager PyTorch pays for every pass.
Run it: `dojo check spec_decode --impl solution:torch`, `dojo bench spec_decode --impl
solution:torch`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 64  # vocabulary entries per block of the two-level inverse CDF


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """(B, V) -> (B, NB, BLOCK), zero padded at the end (padding has no mass)."""
    if x.shape[1] % BLOCK:
        x = F.pad(x, (0, BLOCK - x.shape[1] % BLOCK))  # a copy, only for ragged V
    return x.view(x.shape[0], -1, BLOCK)


def _sample(residual: torch.Tensor, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse CDF per row: the first j with cumsum[j] > u * total, of the residual, or of p in
    rows whose residual has no mass. Two levels instead of a full-row cumsum: block sums find
    the block where the running sum passes u * total, then one cumsum inside that block."""
    res_blocks, p_blocks = _blocks(residual), _blocks(p)  # (B, NB, BLOCK)
    sums = res_blocks.sum(dim=2)  # (B, NB) read B*V
    empty = sums.sum(dim=1, keepdim=True) == 0  # (B, 1) p <= q everywhere
    sums = torch.where(empty, p_blocks.sum(dim=2), sums)  # read B*V
    prefix = sums.cumsum(dim=1)  # (B, NB) running sum at the end of each block
    threshold = u.unsqueeze(1) * prefix[:, -1:]  # (B, 1) fp32, below the total when u < 1
    blk = torch.searchsorted(prefix, threshold, right=True)  # (B, 1) first block past it
    base = torch.where(blk > 0, prefix.gather(1, (blk - 1).clamp(min=0)), 0.0)  # (B, 1)
    at = blk.unsqueeze(2).expand(-1, -1, BLOCK)  # (B, 1, BLOCK)
    pick = torch.where(empty.unsqueeze(2), p_blocks.gather(1, at), res_blocks.gather(1, at))
    inside = pick.squeeze(1)  # (B, BLOCK) that block's weights
    cdf = base + inside.cumsum(dim=1)  # (B, BLOCK) the running sum inside that block
    j = torch.searchsorted(cdf, threshold, right=True)  # (B, 1)
    # off the 2^-24 grid the block's own cumsum can end just below the threshold (its sum was
    # added in another order): then take the block's last token with mass
    ids = torch.arange(BLOCK, device=j.device)
    last = torch.where(inside > 0, ids, -1).amax(dim=1, keepdim=True)  # (B, 1)
    return (blk * BLOCK + torch.where(j < BLOCK, j, last)).squeeze(1)  # (B,)


def _emit(draft_tokens: torch.Tensor, n: torch.Tensor, last: torch.Tensor):
    """Tokens (B, G+1): the n accepted drafts, then `last`, then -1; counts n + 1."""
    B, G = draft_tokens.shape
    pos = torch.arange(G + 1, device=n.device)  # (G+1,)
    padded = F.pad(draft_tokens, (0, 1), value=-1)  # (B, G+1)
    tokens = torch.where(pos < n.unsqueeze(1), padded, -1)  # (B, G+1) accepted prefix
    tokens.scatter_(1, n.unsqueeze(1), last.unsqueeze(1))  # the sampled token at position n
    return tokens, n + 1


def verify(
    draft_tokens: torch.Tensor,
    draft_probs: torch.Tensor,
    target_probs: torch.Tensor,
    accept_u: torch.Tensor,
    sample_u: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    B, G = draft_tokens.shape
    idx = draft_tokens.unsqueeze(-1)  # (B, G, 1)
    q_x = draft_probs.gather(2, idx).squeeze(2)  # (B, G) read B*G scalars
    p_x = target_probs[:, :G].gather(2, idx).squeeze(2)  # (B, G)
    accepted = (accept_u * q_x < p_x).to(torch.int64)  # (B, G)
    n = accepted.cumprod(dim=1).sum(dim=1)  # (B,) drafts accepted before the first rejection
    V = target_probs.shape[-1]
    rows = torch.arange(B, device=n.device)
    # one row per batch row, at its stop position: index_select on the flattened rows
    p = target_probs.reshape(-1, V).index_select(0, rows * (G + 1) + n)  # (B, V) read B*V
    q = draft_probs.reshape(-1, V).index_select(0, rows * G + n.clamp(max=G - 1))  # (B, V)
    # residual = p - q * [n < G] in q's buffer (rows that accepted everything have no q row:
    # they sample the bonus from p itself), then clamped at 0
    keep = (n < G).to(p.dtype).neg_().unsqueeze(1)  # (B, 1) -1 or 0
    residual = torch.addcmul(p, q, keep, out=q).clamp_(min=0)  # (B, V)
    return _emit(draft_tokens, n, _sample(residual, p, sample_u))


def verify_greedy(
    draft_tokens: torch.Tensor, target_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    B, G = draft_tokens.shape
    best = target_logits.argmax(dim=-1)  # (B, G+1) first index on ties
    matched = (draft_tokens == best[:, :G]).to(torch.int64)  # (B, G)
    n = matched.cumprod(dim=1).sum(dim=1)  # (B,)
    return _emit(draft_tokens, n, best.gather(1, n.unsqueeze(1)).squeeze(1))
