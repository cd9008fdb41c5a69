"""Paged decode attention reference: gather each sequence's pages, fp32 attention, q's dtype out."""

from __future__ import annotations

from typing import Any

import torch

SPARE_PAGES = 3  # pool pages no sequence uses: garbage a kernel must never read


def gather(cache: torch.Tensor, table_row: torch.Tensor, n: int) -> torch.Tensor:
    """The first n tokens of one sequence, in logical order: (n, Hkv, D)."""
    S = cache.shape[1]
    pages = table_row[: -(-n // S)].long()  # (ceil(n / S),) physical page of each logical page
    return cache[pages].flatten(0, 1)[:n]  # (pages * S, Hkv, D) -> (n, Hkv, D)


def paged_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    # read sum_b seq_lens[b] * Hkv * D keys and as many values, q; write B * Hq * D: the KV bytes
    # dominate and every one of them is needed once, so the op is memory-bound
    B, Hq, D = q.shape
    group = Hq // k_cache.shape[2]  # query heads per KV head: query head h reads KV head h // group
    out = torch.empty_like(q)  # (B, Hq, D)
    for b in range(B):
        n = int(seq_lens[b])
        k = gather(k_cache, block_tables[b], n).float().repeat_interleave(group, dim=1)
        v = gather(v_cache, block_tables[b], n).float().repeat_interleave(group, dim=1)
        scores = torch.einsum("hd,nhd->hn", q[b].float(), k) * scale  # (Hq, n)
        p = torch.softmax(scores, dim=-1)  # (Hq, n) fp32, max subtracted by torch
        out[b] = torch.einsum("hn,nhd->hd", p, v).to(q.dtype)  # (Hq, D)
    return out


def paged_decode_attention_fp16(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """The null answer `null:fp16`: an online softmax whose scores, exponentials and running
    sums are float16, accumulated page by page the way a kernel with half accumulators would.
    The tolerances must reject it (tests/test_problems_reject_wrong_answers.py)."""
    half, S = torch.float16, k_cache.shape[1]
    B, Hq, D = q.shape
    group = Hq // k_cache.shape[2]
    out = torch.empty_like(q)  # (B, Hq, D)
    for b in range(B):
        n = int(seq_lens[b])
        k = gather(k_cache, block_tables[b], n).to(half).repeat_interleave(group, dim=1)
        v = gather(v_cache, block_tables[b], n).to(half).repeat_interleave(group, dim=1)
        scores = (torch.einsum("hd,nhd->hn", q[b].float(), k.float()) * scale).to(half)  # (Hq, n)
        m = scores.max(dim=-1, keepdim=True).values  # (Hq, 1)
        den = torch.zeros(Hq, 1, dtype=half, device=q.device)  # running sum, rounded to half
        acc = torch.zeros(Hq, D, dtype=half, device=q.device)  # running weighted sum of V
        for start in range(0, n, S):
            p = torch.exp(scores[:, start : start + S] - m)  # (Hq, <=S) half
            den = den + p.float().sum(dim=-1, keepdim=True).to(half)
            acc = acc + torch.einsum("hn,nhd->hd", p.float(), v[start : start + S].float()).to(half)
        out[b] = (acc.float() / den.float()).to(q.dtype)
    return out


def magnitudes(args: dict[str, Any]) -> tuple[float, float]:
    """(max |scale * q . k|, max |v|) over the keys and values the sequences attend to."""
    q, tables = args["q"].float(), args["block_tables"]
    group = q.shape[1] // args["k_cache"].shape[2]
    s_max = v_max = 0.0
    for b, n in enumerate(args["seq_lens"].tolist()):
        k = gather(args["k_cache"], tables[b], n).float().repeat_interleave(group, dim=1)
        s = torch.einsum("hd,nhd->hn", q[b], k) * args["scale"]  # (Hq, n)
        v = gather(args["v_cache"], tables[b], n)  # (n, Hkv, D)
        s_max = max(s_max, float(s.abs().max()))
        v_max = max(v_max, float(v.float().abs().max()))
    return s_max, v_max


def seq_lengths(case: dict[str, Any]) -> list[int]:
    """The case's sequence lengths: `lens` (a list), `seq_len` (all equal), or `mixed_max_len`
    (uniform in [1, max], from a fixed seed so that cost() knows them without the inputs)."""
    if "lens" in case:
        return [int(n) for n in case["lens"]]
    if "seq_len" in case:
        return [int(case["seq_len"])] * case["B"]
    gen = torch.Generator().manual_seed(case.get("len_seed", 0))
    return torch.randint(1, case["mixed_max_len"] + 1, (case["B"],), generator=gen).tolist()


def paginate(
    keys: list[torch.Tensor],
    values: list[torch.Tensor],
    S: int,
    gen: torch.Generator,
    spare: int = SPARE_PAGES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lay out per-sequence (n_b, Hkv, D) keys and values in a pool of S-slot pages, in a random
    page order: (k_cache, v_cache, block_tables). Slots past a sequence's end and spare pages
    hold random data, so a kernel that reads them gets a wrong answer."""
    dev, dtype = keys[0].device, keys[0].dtype
    counts = [-(-k.shape[0] // S) for k in keys]  # pages per sequence
    k_cache, v_cache, tables = _random_pool(
        counts, S, *keys[0].shape[1:], dtype, 1.0, gen, spare, dev
    )
    for b, (k, v) in enumerate(zip(keys, values)):
        pages = tables[b, : counts[b]].long()  # (pages,)
        n = k.shape[0]
        k_cache[pages] = _fill_pages(k_cache[pages], k, n)
        v_cache[pages] = _fill_pages(v_cache[pages], v, n)
    return k_cache, v_cache, tables


def _fill_pages(pages: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    """pages (count, S, Hkv, D) with their first n slots replaced by rows (n, Hkv, D)."""
    flat = pages.flatten(0, 1).clone()  # (count * S, Hkv, D)
    flat[:n] = rows
    return flat.view(pages.shape)


def _random_pool(
    counts: list[int],
    S: int,
    Hkv: int,
    D: int,
    dtype: torch.dtype,
    spread: float,
    gen: torch.Generator,
    spare: int,
    dev: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A pool of random pages, counts[b] of them listed in a random order in table row b; the
    rest of each row points at random pages (entries past a sequence's end mean nothing)."""
    P = sum(counts) + spare
    k_cache = (torch.randn(P, S, Hkv, D, generator=gen, device=dev) * spread).to(dtype)
    v_cache = torch.randn(P, S, Hkv, D, generator=gen, device=dev).to(dtype)  # (P, S, Hkv, D)
    order = torch.randperm(P, generator=gen, device=dev)  # a random physical page per logical one
    tables = torch.randint(0, P, (len(counts), max(counts)), generator=gen, device=dev)  # (B, W)
    first = 0
    for b, count in enumerate(counts):
        tables[b, :count] = order[first : first + count]
        first += count
    return k_cache, v_cache, tables.to(torch.int32)


def make_inputs(case: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
    """q and a pool of random pages listed in random order; with `shared` > 0 every sequence
    starts with the same `shared` pages (a cached prefix). `values` sets the score spread."""
    dev, dtype = gen.device, getattr(torch, case["dtype"])
    B, Hkv, D, S = case["B"], case["Hkv"], case["D"], case["S"]
    Hq = case.get("Hq", Hkv * case.get("group", 1))
    lens = seq_lengths(case)
    spread = {"normal": 1.0, "wide": 3.0, "large": 30.0}[case.get("values", "normal")]
    q = torch.randn(B, Hq, D, generator=gen, device=dev) * spread  # (B, Hq, D)
    counts = [-(-n // S) for n in lens]
    k_cache, v_cache, tables = _random_pool(counts, S, Hkv, D, dtype, spread, gen, SPARE_PAGES, dev)
    shared = min(case.get("shared", 0), *(n // S for n in lens))
    if shared:  # prefix sharing: every sequence's first pages are sequence 0's
        tables[1:, :shared] = tables[0, :shared]
    return {
        "q": q.to(dtype),
        "k_cache": k_cache,
        "v_cache": v_cache,
        "block_tables": tables,
        "seq_lens": torch.tensor(lens, dtype=torch.int32, device=dev),
        "scale": case.get("scale", D**-0.5),
    }


def cost(case: dict[str, Any]) -> dict[str, float]:
    size = torch.finfo(getattr(torch, case["dtype"])).bits // 8
    Hkv, D = case["Hkv"], case["D"]
    Hq = case.get("Hq", Hkv * case.get("group", 1))
    tokens = sum(seq_lengths(case))
    kv = tokens * Hkv * D * 2 * size  # each attended key and value read once
    qo = 2 * case["B"] * Hq * D * size  # q read, out written
    return {"bytes": kv + qo, "flops": 4 * tokens * Hq * D}  # q.k and p.v per head and token
