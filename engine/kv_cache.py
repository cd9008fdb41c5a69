"""The paged KV pool: per-layer K/V pages (P, S, Hkv, D), the free pages, each request's page
table, and the radix prefix cache over full pages (the kernel table's RadixCache).

Every page is in exactly one of three places: free, private to one live request, or held by
the radix tree (shared read-only by the requests that matched it, locked while they run).
The tree is keyed by pages: one key element is the tuple of a page's S tokens and its value is
the page id, so the tree's "tokens" are pages and a match always ends on a page boundary.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

import torch


class KVPool:
    """The KV tensors: k[l] and v[l] of layer l are (P, S, Hkv, D). With fp8 they hold e4m3
    codes (as raw bytes: index_copy_ and gathers of float8 are not implemented everywhere) and
    k_scale[l] / v_scale[l] (P, S, Hkv, 1) fp32 one scale per token and head (group = D)."""

    def __init__(
        self,
        layers: int,
        pages: int,
        page_size: int,
        kv_heads: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
        fp8: bool = False,
    ) -> None:
        shape = (layers, pages, page_size, kv_heads, head_dim)  # (L, P, S, Hkv, D)
        # zeros, not empty: padded keys read slot 0, and 0 * NaN garbage would poison SDPA
        self.k = torch.zeros(shape, dtype=torch.uint8 if fp8 else dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.k_scale = self.v_scale = None
        if fp8:
            self.k_scale = torch.ones((*shape[:-1], 1), dtype=torch.float32, device=device)
            self.v_scale = torch.ones_like(self.k_scale)  # (L, P, S, Hkv, 1)

    def layers(self) -> list[tuple]:
        """Per layer (k, v): tensors, or (codes, scales) pairs for fp8."""
        if self.k_scale is None:
            return list(zip(self.k.unbind(0), self.v.unbind(0)))
        k = zip(self.k.unbind(0), self.k_scale.unbind(0))
        return list(zip(k, zip(self.v.unbind(0), self.v_scale.unbind(0))))

    def nbytes(self) -> int:
        scales = 0 if self.k_scale is None else 2 * self.k_scale.nbytes
        return self.k.nbytes + self.v.nbytes + scales


def page_bytes(page_size: int, kv_elems: int, head_dim: int, itemsize: int, fp8: bool) -> int:
    """Bytes of one page holding kv_elems K/V elements per token: fp8 is one byte per element
    plus a 4-byte scale per head_dim elements."""
    return page_size * (kv_elems + 4 * kv_elems // head_dim if fp8 else kv_elems * itemsize)


def pages_for_memory(page_bytes: int, device: torch.device, utilization: float) -> int:
    """How many pages fit: on a GPU, 80% of what is free under the utilization cap (the rest
    is for activations); on a CPU, a quarter of the available memory."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        budget = 0.8 * (free - (1 - utilization) * total)
    else:
        budget = _available_cpu_bytes() / 4
    return max(int(budget // page_bytes), 0)


def _available_cpu_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


class PageTable:
    """Pages of the pool: who holds which, with prefix caching through the radix tree.

    A request (any object with `tokens`, `num_computed`, `pages`, `shared`, `node`) owns
    pages[shared:] privately; pages[:shared] came from the tree and are locked through `node`.
    """

    def __init__(self, num_pages: int, page_size: int, radix_cls: type | None) -> None:
        self.total, self.S = num_pages, page_size
        self.free: deque[int] = deque(range(num_pages))
        self.tree = radix_cls() if radix_cls is not None else None

    def _keys(self, tokens: list[int], pages: int) -> list[tuple[int, ...]]:
        S = self.S
        return [tuple(tokens[i * S : (i + 1) * S]) for i in range(pages)]

    def match(self, req: Any) -> None:
        """Reuse the longest cached run of full pages of the prompt, leaving at least one token
        to compute (its logits give the next token); lock it while the request runs."""
        req.pages, req.shared, req.node, req.num_computed = [], 0, None, 0
        if self.tree is None:
            return
        pages, node = self.tree.match_prefix(
            self._keys(req.tokens, (len(req.tokens) - 1) // self.S)
        )
        self.tree.inc_lock(node)
        req.pages, req.shared, req.node = list(pages), len(pages), node
        req.num_computed = len(pages) * self.S

    def allocate(self, req: Any, num_tokens: int) -> bool:
        """Give req the pages for its next num_tokens, evicting unlocked cached pages if short."""
        need = -(-(req.num_computed + num_tokens) // self.S) - len(req.pages)
        if need > len(self.free) and self.tree is not None:
            self.free.extend(self.tree.evict(need - len(self.free)))
        if need > len(self.free):
            return False
        req.pages += [self.free.popleft() for _ in range(max(need, 0))]
        return True

    def release(self, req: Any) -> None:
        """The request stops (finished or preempted): its full computed pages go to the tree,
        pages the tree already held for the same tokens and the partial last page are freed."""
        pages, keep = req.pages, req.shared
        if self.tree is not None:
            full = req.num_computed // self.S
            cached = self.tree.insert(self._keys(req.tokens, full), pages[:full])
            # pages[shared:cached] duplicate what the tree holds; pages[cached:full] now live there
            self.free.extend(pages[req.shared : max(cached, req.shared)])
            keep = max(full, req.shared)
            if req.node is not None:
                self.tree.dec_lock(req.node)
        self.free.extend(pages[keep:])
        req.pages, req.shared, req.node, req.num_computed = [], 0, None, 0

    def truncate(self, req: Any) -> None:
        """Free the pages past req's computed tokens: rejected speculative tokens leave nothing
        behind (and never reach the tree: release inserts computed tokens only)."""
        keep = max(-(-req.num_computed // self.S), req.shared)
        self.free.extend(req.pages[keep:])
        del req.pages[keep:]

    def cached(self) -> int:
        return self.tree.total_size() if self.tree is not None else 0

    def evictable(self) -> int:
        return self.tree.evictable_size() if self.tree is not None else 0
