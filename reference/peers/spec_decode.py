"""spec_decode's peers: verification vectorised in PyTorch (the readable solution, written the
way a vLLM-style rejection sampler is: every row at once, no host sync) and torch.compile of it.
The reference itself is a per-row Python loop, so compiling it would only time graph breaks.
Called like `verify(...)`; `dojo bench spec_decode --peers` checks both and times them."""

from __future__ import annotations

import functools

import torch

from solutions.spec_decode.torch import verify


def vectorised(
    draft_tokens: torch.Tensor,
    draft_probs: torch.Tensor,
    target_probs: torch.Tensor,
    accept_u: torch.Tensor,
    sample_u: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    return verify(draft_tokens, draft_probs, target_probs, accept_u, sample_u)  # (B, G+1), (B,)


def compiled_vectorised(
    draft_tokens: torch.Tensor,
    draft_probs: torch.Tensor,
    target_probs: torch.Tensor,
    accept_u: torch.Tensor,
    sample_u: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    return _compiled()(draft_tokens, draft_probs, target_probs, accept_u, sample_u)


@functools.cache
def _compiled():
    """Dynamo is imported and the code compiled only when this peer runs, at its first call
    (outside the timed samples): the other peers' workers do not pay for it."""
    return torch.compile(verify, dynamic=False)
