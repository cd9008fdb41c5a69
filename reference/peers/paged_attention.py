"""paged_attention's peers: what a user without a paged kernel does, gather each sequence's
pages into padded dense K and V, then call torch's SDPA, or FlexAttention (compiled) with the
lengths as a score mask. Both pay for the gather, which copies every KV byte once more. Called
like `paged_decode_attention(...)`; `dojo bench paged_attention --peers` checks and times them."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def dense(
    k_cache: torch.Tensor, v_cache: torch.Tensor, block_tables: torch.Tensor, seq_lens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pages gathered into padded (B, Hkv, L, D) K and V, L = table width * S, and a
    (B, 1, 1, L) mask of the keys each sequence owns."""
    tables = block_tables.long()  # (B, W)
    B, W = tables.shape
    S = k_cache.shape[1]
    k = k_cache[tables].flatten(1, 2).transpose(1, 2)  # (B, W, S, Hkv, D) -> (B, Hkv, L, D)
    v = v_cache[tables].flatten(1, 2).transpose(1, 2)
    keep = torch.arange(W * S, device=tables.device)[None, :] < seq_lens[:, None]  # (B, L)
    return k, v, keep[:, None, None, :]


def sdpa_gathered(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """The query heads of one KV head as that head's query rows: SDPA sees Hkv heads of
    group = Hq // Hkv queries, so K and V are never repeated per query head (enable_gqa with a
    mask takes the math path, which repeats them: Hq // Hkv times the gathered cache)."""
    k, v, keep = dense(k_cache, v_cache, block_tables, seq_lens)
    B, Hq, D = q.shape
    qg = q.view(B, k.shape[1], Hq // k.shape[1], D)  # (B, Hkv, group, D)
    out = F.scaled_dot_product_attention(qg, k, v, attn_mask=keep, scale=scale)
    return out.reshape(B, Hq, D)


# One lengths buffer per batch size, read by the score mask: the compiled kernel stays the same
# while the lengths change from call to call (a new closure would make Dynamo recompile).
_LENGTHS: dict[tuple[int, str], tuple[torch.Tensor, object]] = {}


def _masked(batch: int, device: torch.device) -> tuple[torch.Tensor, object]:
    key = (batch, str(device))
    if key not in _LENGTHS:
        lengths = torch.zeros(batch, dtype=torch.int32, device=device)  # (B,)

        def score_mod(score, b, h, q_idx, kv_idx):
            return torch.where(kv_idx < lengths[b], score, float("-inf"))

        _LENGTHS[key] = (lengths, score_mod)
    return _LENGTHS[key]


def flex_gathered(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    k, v, _ = dense(k_cache, v_cache, block_tables, seq_lens)
    lengths, score_mod = _masked(q.shape[0], q.device)
    lengths.copy_(seq_lens)  # on the device: no host sync
    flex = _compiled_flex()
    out = flex(q[:, :, None, :], k, v, score_mod=score_mod, scale=scale, enable_gqa=True)
    return out[:, :, 0]  # (B, Hq, D)


@functools.cache
def _compiled_flex():
    """FlexAttention runs fast only compiled: once per process, at the first (untimed) call."""
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)
