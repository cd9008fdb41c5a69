"""Attention over the paged KV pool: write the step's K/V into their slots, then attend for
decode rows (one query each) and prefill rows (a chunk of queries after a cached prefix).

The reference path gathers each sequence's pages into a padded (B, K) view and calls SDPA with
a mask; it runs everywhere. Decode goes to the kernel table's paged_decode_attention when one is
bound (problems/paged_attention; on a GPU by default), which reads the pages in place, and an
fp8 pool to its paged_decode_attention_fp8, which reads the e4m3 codes and their scales.
Letters: B sequences in a group, Q queries per sequence (padded), K keys (padded), S page size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True, slots=True)
class Group:
    """Sequences attended together; padding rows/keys point at slot 0 and are masked off."""

    tokens: torch.Tensor  # (B, Q) int64 index of each query in the step's flat token list
    kv_slots: torch.Tensor  # (B, K) int64 pool slot of each key
    mask: torch.Tensor  # (B, 1, Q, K) bool, True where query may attend to key
    out_rows: torch.Tensor  # (R,) int64 rows of the flattened (B*Q) output that are real
    block_tables: torch.Tensor  # (B, max_blocks) int32 pages of each sequence
    seq_lens: torch.Tensor  # (B,) int32 keys of each sequence, this step's included


@dataclass(frozen=True, slots=True)
class AttentionMetadata:
    slot_mapping: torch.Tensor  # (T,) int64 where each new token's K/V is written
    decode: Group | None  # sequences with one query
    prefill: Group | None  # sequences with a chunk of queries
    scale: float


def make_group(q_lens, ctx_lens, tables, block_size: int, offset: int, device) -> Group:
    """Metadata for sequences whose queries are the last q_lens of ctx_lens keys, laid out one
    after another in the flat token list from position `offset`."""
    B, S = len(q_lens), block_size
    q_len = torch.tensor(q_lens, dtype=torch.int64)  # (B,)
    ctx = torch.tensor(ctx_lens, dtype=torch.int64)  # (B,)
    width = max(len(t) for t in tables)
    table = torch.tensor([t + [0] * (width - len(t)) for t in tables], dtype=torch.int64)
    Q, K = int(q_len.max()), int(ctx.max())
    starts = offset + torch.cumsum(q_len, 0) - q_len  # (B,) first query of each sequence
    i = torch.arange(Q)  # (Q,)
    q_ok = i[None, :] < q_len[:, None]  # (B, Q)
    tokens = torch.where(q_ok, starts[:, None] + i, 0)  # (B, Q)
    j = torch.arange(K)  # (K,)
    kv_slots = table.gather(1, (j // S).expand(B, K)) * S + j % S  # (B, K)
    pos = ctx[:, None] - q_len[:, None] + i  # (B, Q) absolute position of each query
    mask = (j[None, None, :] <= pos[:, :, None]) & q_ok[:, :, None]  # (B, Q, K) causal
    mask[:, :, 0] |= ~q_ok  # padded queries see key 0 so their (discarded) row is not NaN
    return Group(
        tokens=tokens.to(device),
        kv_slots=torch.where(j < ctx[:, None], kv_slots, 0).to(device),
        mask=mask.unsqueeze(1).to(device),
        out_rows=q_ok.flatten().nonzero().squeeze(1).to(device),
        block_tables=table.to(torch.int32).to(device),
        seq_lens=ctx.to(torch.int32).to(device),
    )


def write_kv(k, v, k_cache, v_cache, slot_mapping, kernels=None) -> None:
    """Store the step's keys and values (T, Hkv, D) at their slots of the (P, S, Hkv, D) pool;
    an fp8 cache is (codes, scales) and gets the kernel table's quant_fp8 of each head."""
    for x, cache in ((k, k_cache), (v, v_cache)):
        T, H, D = x.shape
        if not isinstance(cache, tuple):
            cache.view(-1, H, D).index_copy_(0, slot_mapping, x)
            continue
        codes, scales = kernels.quant_fp8(x.reshape(T * H, D).contiguous(), D)  # (T*H, D), (T*H, 1)
        cache[0].view(-1, H, D).index_copy_(0, slot_mapping, codes.view(torch.uint8).view(T, H, D))
        cache[1].view(-1, H, 1).index_copy_(0, slot_mapping, scales.view(T, H, 1))


def gather_kv(cache, slots: torch.Tensor, dtype, kernels=None) -> torch.Tensor:
    """The keys (or values) at slots (B, K) -> (B, K, Hkv, D), dequantised when fp8."""
    if not isinstance(cache, tuple):
        return cache.view(-1, *cache.shape[2:])[slots]
    codes, scales = cache  # (P, S, Hkv, D) uint8, (P, S, Hkv, 1) fp32
    Hkv, D = codes.shape[2:]
    c = codes.view(-1, Hkv, D)[slots].view(torch.float8_e4m3fn).reshape(-1, D)  # (B*K*Hkv, D)
    x = kernels.dequant_fp8(c, scales.view(-1, Hkv, 1)[slots].reshape(-1, 1), D)
    return x.view(*slots.shape, Hkv, D).to(dtype)  # (B, K, Hkv, D)


def sdpa_gathered(q, k_cache, v_cache, group: Group, scale: float, kernels=None) -> torch.Tensor:
    """Reference: gather the pages into (B, K) rows and run masked SDPA. q (T, Hq, D) ->
    (R, Hq, D) for the group's real queries, in group order."""
    B, Q = group.tokens.shape
    Hq, D = q.shape[1:]
    k = gather_kv(k_cache, group.kv_slots, q.dtype, kernels).transpose(1, 2)  # (B, Hkv, K, D)
    v = gather_kv(v_cache, group.kv_slots, q.dtype, kernels).transpose(1, 2)  # (B, Hkv, K, D)
    Hkv = k.shape[1]
    g = Hq // Hkv  # query heads sharing one KV head
    # GQA without copying K/V: the g query heads of a KV head become g*Q rows of one head
    qg = q[group.tokens].view(B, Q, Hkv, g, D).permute(0, 2, 3, 1, 4)  # (B, Hkv, g, Q, D)
    mask = group.mask  # (B, 1, Q, K); with one query it broadcasts over the g rows as it is
    if Q > 1:
        mask = mask.unsqueeze(2).expand(B, 1, g, Q, -1).reshape(B, 1, g * Q, -1)
    o = F.scaled_dot_product_attention(
        qg.reshape(B, Hkv, g * Q, D), k, v, attn_mask=mask, scale=scale
    )  # (B, Hkv, g*Q, D)
    o = o.view(B, Hkv, g, Q, D).permute(0, 3, 1, 2, 4).reshape(B * Q, Hq, D)  # (B*Q, Hq, D)
    return o[group.out_rows]  # (R, Hq, D)


def paged_attention(q, k, v, k_cache, v_cache, meta: AttentionMetadata, kernels) -> torch.Tensor:
    """q (T, Hq, D), k/v (T, Hkv, D) of this step -> attention output (T, Hq, D).
    The flat token list holds the decode group's tokens first, then the prefill group's."""
    write_kv(k, v, k_cache, v_cache, meta.slot_mapping, kernels)
    outs = []
    if meta.decode is not None:
        d, fp8 = meta.decode, isinstance(k_cache, tuple)
        kernel = kernels.paged_decode_attention_fp8 if fp8 else kernels.paged_decode_attention
        if kernel is not None:  # the pages read in place; fp8: codes (P, S, Hkv, D) and scales
            pages = (k_cache[0], v_cache[0], k_cache[1], v_cache[1]) if fp8 else (k_cache, v_cache)
            qd = q[d.tokens[:, 0]]  # (B, Hq, D)
            outs.append(kernel(qd, *pages, d.block_tables, d.seq_lens, meta.scale))
        else:
            outs.append(sdpa_gathered(q, k_cache, v_cache, d, meta.scale, kernels))
    if meta.prefill is not None:
        outs.append(sdpa_gathered(q, k_cache, v_cache, meta.prefill, meta.scale, kernels))
    return outs[0] if len(outs) == 1 else torch.cat(outs)  # (T, Hq, D)
