"""Your speculative-decoding verification in PyTorch. Edit this file, then run
`dojo check spec_decode` and `dojo bench spec_decode`. The statement is in README.md."""

from __future__ import annotations

import torch


def verify(draft_tokens: torch.Tensor, draft_probs: torch.Tensor, target_probs: torch.Tensor,
           accept_u: torch.Tensor, sample_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # 1. gather p_i(x_i), q_i(x_i) at the draft tokens; accept while accept_u * q < p (strict)
    # 2. n = drafts accepted before the first rejection, per row
    # 3. sample one token with sample_u by inverse CDF (first j with cumsum[j] > u * total) from
    #    max(0, p_n - q_n) if n < G (p_n if that has no mass), from p_G if n == G
    # 4. tokens (B, G+1): the n accepted drafts, the sampled token, then -1; counts = n + 1
    raise NotImplementedError("write verify")


def verify_greedy(draft_tokens: torch.Tensor,
                  target_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Accept while draft_tokens[:, i] equals argmax(target_logits[:, i]) (first index on ties),
    # then emit that argmax; same output layout as verify.
    raise NotImplementedError("write verify_greedy")
