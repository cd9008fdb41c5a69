"""Known-wrong verify: after a rejection it samples the replacement from the target p.

The accepted drafts already cover min(p, q) of the target's mass; resampling from all of p
counts that part twice, so the emitted tokens no longer follow p (the very guarantee of
speculative sampling). Only a distribution test sees it: every single token is plausible.
Rejected by: test_verify_matches_reference_on_fixed_cases
"""

import torch

from solutions.spec_decode.torch import _emit, _sample, verify_greedy

__all__ = ["verify", "verify_greedy"]


def verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u):
    B, G = draft_tokens.shape
    idx = draft_tokens.unsqueeze(-1)  # (B, G, 1)
    q_x = draft_probs.gather(2, idx).squeeze(2)  # (B, G)
    p_x = target_probs[:, :G].gather(2, idx).squeeze(2)  # (B, G)
    n = (accept_u * q_x < p_x).to(torch.int64).cumprod(dim=1).sum(dim=1)  # (B,)
    p = target_probs[torch.arange(B, device=n.device), n]  # (B, V)
    return _emit(draft_tokens, n, _sample(p, p, sample_u))  # BUG: p, not max(0, p - q)
