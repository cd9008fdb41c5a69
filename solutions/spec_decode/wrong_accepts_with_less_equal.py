"""Known-wrong verify: accepts while accept_u * q(x) <= p(x) instead of <.

With continuous uniforms the two differ with probability zero, so random tests pass; at the
boundary it accepts a draft the target gives zero probability (u = 0, p(x) = q(x) = 0).
Rejected by: test_accepts_only_while_u_times_q_is_strictly_below_p
"""

import torch

from solutions.spec_decode.torch import _emit, _sample, verify_greedy

__all__ = ["verify", "verify_greedy"]


def verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u):
    B, G = draft_tokens.shape
    idx = draft_tokens.unsqueeze(-1)  # (B, G, 1)
    q_x = draft_probs.gather(2, idx).squeeze(2)  # (B, G)
    p_x = target_probs[:, :G].gather(2, idx).squeeze(2)  # (B, G)
    accepted = (accept_u * q_x <= p_x).to(torch.int64)  # BUG: <= accepts p(x) = 0
    n = accepted.cumprod(dim=1).sum(dim=1)  # (B,)
    rows = torch.arange(B, device=n.device)
    p = target_probs[rows, n]  # (B, V)
    q = draft_probs[rows, n.clamp(max=G - 1)] * (n < G).unsqueeze(1)  # (B, V), 0 after all G
    return _emit(draft_tokens, n, _sample((p - q).clamp(min=0), p, sample_u))
