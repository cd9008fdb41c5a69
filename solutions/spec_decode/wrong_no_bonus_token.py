"""Known-wrong verify: forgets the bonus token when every draft is accepted.

A row that accepts all G drafts has the target's distribution for position G for free (the
target ran on all G drafts); skipping it emits G tokens instead of G + 1 and wastes a step.
Rejected by: test_verify_matches_reference_on_fixed_cases
"""

import torch
import torch.nn.functional as F

from solutions.spec_decode.torch import _sample

__all__ = ["verify", "verify_greedy"]


def _emit(draft_tokens, n, last, emitted):
    G = draft_tokens.shape[1]
    pos = torch.arange(G + 1, device=n.device)  # (G+1,)
    padded = F.pad(draft_tokens, (0, 1), value=-1)  # (B, G+1)
    tokens = torch.where(pos < n.unsqueeze(1), padded, -1)
    tokens.scatter_(1, n.unsqueeze(1), torch.where(emitted, last, -1).unsqueeze(1))
    return tokens, n + emitted.to(torch.int64)


def verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u):
    B, G = draft_tokens.shape
    idx = draft_tokens.unsqueeze(-1)  # (B, G, 1)
    q_x = draft_probs.gather(2, idx).squeeze(2)  # (B, G)
    p_x = target_probs[:, :G].gather(2, idx).squeeze(2)  # (B, G)
    n = (accept_u * q_x < p_x).to(torch.int64).cumprod(dim=1).sum(dim=1)  # (B,)
    rows = torch.arange(B, device=n.device)
    p = target_probs[rows, n.clamp(max=G - 1)]  # (B, V)
    q = draft_probs[rows, n.clamp(max=G - 1)]  # (B, V)
    last = _sample((p - q).clamp(min=0), p, sample_u)
    return _emit(draft_tokens, n, last, n < G)  # BUG: no token when all G are accepted


def verify_greedy(draft_tokens, target_logits):
    G = draft_tokens.shape[1]
    best = target_logits.argmax(dim=-1)  # (B, G+1)
    n = (draft_tokens == best[:, :G]).to(torch.int64).cumprod(dim=1).sum(dim=1)  # (B,)
    return _emit(draft_tokens, n, best.gather(1, n.unsqueeze(1)).squeeze(1), n >= 0)
