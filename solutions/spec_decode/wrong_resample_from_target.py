"""Known-wrong verify: after a rejection it samples the replacement from the target p.

The accepted drafts already cover min(p, q) of the target's mass; resampling from all of p
counts that part twice, so the emitted tokens no longer follow p (the very guarantee of
speculative sampling). Only a distribution test sees it: every single token is plausible.
"""

import torch


def _sample(weights, u):
    cdf = torch.cumsum(weights, dim=-1)  # (B, V)
    return torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)


def _emit(draft_tokens, n, last):
    G = draft_tokens.shape[1]
    pos = torch.arange(G + 1, device=n.device)
    padded = torch.nn.functional.pad(draft_tokens, (0, 1), value=-1)
    tokens = torch.where(pos < n.unsqueeze(1), padded, -1)
    tokens.scatter_(1, n.unsqueeze(1), last.unsqueeze(1))
    return tokens, n + 1


def verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u):
    B, G = draft_tokens.shape
    idx = draft_tokens.unsqueeze(-1)
    q_x = draft_probs.gather(2, idx).squeeze(2)
    p_x = target_probs[:, :G].gather(2, idx).squeeze(2)
    accepted = (accept_u * q_x < p_x).to(torch.int64)
    n = accepted.cumprod(dim=1).sum(dim=1)
    rows = torch.arange(B, device=n.device)
    p = target_probs[rows, n]
    q = draft_probs[rows, n.clamp(max=G - 1)]
    q.mul_((n < G).unsqueeze(1))
    residual = p.clone()  # BUG: should be max(0, p - q)
    empty = (residual.sum(dim=1, keepdim=True) == 0).to(p.dtype)
    residual.addcmul_(p, empty)
    return _emit(draft_tokens, n, _sample(residual, sample_u))


def verify_greedy(draft_tokens, target_logits):
    G = draft_tokens.shape[1]
    best = target_logits.argmax(dim=-1)
    n = (draft_tokens == best[:, :G]).to(torch.int64).cumprod(dim=1).sum(dim=1)
    return _emit(draft_tokens, n, best.gather(1, n.unsqueeze(1)).squeeze(1))
