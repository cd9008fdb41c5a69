"""Known-wrong verify_greedy: compares draft i with the argmax of target position i + 1.

The target's logits at position i already predict draft i (they were computed from the prefix
and drafts[:i]); shifting by one compares each draft with the target's guess for the next
token, so agreement is accidental.
Rejected by: test_verify_greedy_matches_reference_on_fixed_cases
"""

import torch

from solutions.spec_decode.torch import _emit, verify

__all__ = ["verify", "verify_greedy"]


def verify_greedy(draft_tokens, target_logits):
    best = target_logits.argmax(dim=-1)  # (B, G+1)
    n = (draft_tokens == best[:, 1:]).to(torch.int64).cumprod(dim=1).sum(dim=1)  # BUG: i + 1
    return _emit(draft_tokens, n, best.gather(1, n.unsqueeze(1)).squeeze(1))
