"""Sampling parameters and the batched sampler: greedy, temperature, top-k, top-p, per-request
seeds, optional log-probs. One pass over the (N, V) logits with no host synchronisation: the
only device-to-host copy is the sampled tokens the caller asks for.

Randomness is counter-based: token i of request r draws its noise from hash(seed_r, i, vocab
index), so a seeded request samples the same tokens whatever else shares its batch, and after
a preemption. Sampling from p is argmax(p / E) with E ~ Exp(1) per entry (the exponential race,
as in gpt-fast), which needs no cumulative sum and no sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

M32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    top_k: int = -1  # -1: the whole vocabulary
    max_tokens: int = 64
    stop: str | list[str] | None = None  # the output text ends before the first stop string
    stop_token_ids: tuple[int, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False
    logprobs: int | None = None  # top-n log-probs of each step's distribution

    def __post_init__(self) -> None:
        if not 0 <= self.temperature < float("inf"):
            raise ValueError(f"temperature must be finite and >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k == 0 or self.top_k < -1:
            raise ValueError(f"top_k must be -1 (off) or >= 1, got {self.top_k}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.logprobs is not None and not 0 <= self.logprobs <= 20:
            raise ValueError(f"logprobs must be in [0, 20], got {self.logprobs}")
        object.__setattr__(self, "stop_token_ids", tuple(self.stop_token_ids))

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (lowbias32) on int64 tensors holding values below 2**32; the low
    32 bits of an int64 product are exact even when it wraps."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & M32
    return x ^ (x >> 16)


def exponential_noise(seeds: torch.Tensor, steps: torch.Tensor, V: int) -> torch.Tensor:
    """E ~ Exp(1) of shape (N, V), a pure function of (seed, step, vocabulary index)."""
    s = _mix((seeds & M32) ^ _mix(seeds >> 32 & M32))  # (N,)
    h = _mix(torch.arange(V, device=seeds.device) + _mix((steps + s) & M32)[:, None])  # (N, V)
    u = ((h >> 8).float() + 0.5) * 2.0**-24  # (N, V) uniform in (0, 1)
    return -torch.log(u)


def top_k_top_p(x: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Set to -inf every logit outside the top_k largest and outside the smallest set whose
    probability reaches top_p (the most likely token always stays)."""
    sorted_x, order = x.sort(dim=-1, descending=True)  # (N, V)
    rank = torch.arange(x.shape[-1], device=x.device)  # (V,)
    keep = rank[None, :] < top_k[:, None]  # (N, V)
    probs = torch.softmax(sorted_x.masked_fill(~keep, float("-inf")), dim=-1)  # (N, V)
    keep &= (probs.cumsum(dim=-1) - probs) < top_p[:, None]  # mass before this token < p
    return x.scatter(-1, order, sorted_x.masked_fill(~keep, float("-inf")))


class Sampler:
    def __init__(self, softmax: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.softmax = softmax  # the kernel table's online_softmax

    def __call__(
        self,
        logits: torch.Tensor,
        params: Sequence[SamplingParams],
        seeds: Sequence[int],
        steps: Sequence[int],
    ) -> torch.Tensor:
        """Tokens (N,) for logits (N, V) fp32; request i samples its steps[i]-th token."""
        greedy = logits.argmax(dim=-1)  # (N,)
        if all(p.temperature == 0 for p in params):
            return greedy
        probs = self.probs(logits, params)  # (N, V)
        return self.race(probs, params, seeds, steps, greedy)

    def probs(self, logits: torch.Tensor, params: Sequence[SamplingParams]) -> torch.Tensor:
        """The distribution each row samples from (N, V): temperature, top-k, top-p, softmax."""
        dev, V = logits.device, logits.shape[-1]
        temp = torch.tensor([p.temperature for p in params], device=dev)  # (N,)
        x = logits / temp.clamp_min(1e-6)[:, None]  # (N, V)
        if any(p.top_k > 0 or p.top_p < 1 for p in params):
            top_k = torch.tensor([p.top_k if p.top_k > 0 else V for p in params], device=dev)
            top_p = torch.tensor([p.top_p for p in params], device=dev)
            x = top_k_top_p(x, top_k, top_p)
        return self.softmax(x)

    def race(self, probs, params, seeds, steps, greedy: torch.Tensor) -> torch.Tensor:
        """One token per row of probs (N, V) by the exponential race; greedy where temp = 0."""
        dev, V = probs.device, probs.shape[-1]
        temp = torch.tensor([p.temperature for p in params], device=dev)  # (N,)
        seed_t = torch.tensor(list(seeds), dtype=torch.int64, device=dev)
        step_t = torch.tensor(list(steps), dtype=torch.int64, device=dev)
        sampled = (probs / exponential_noise(seed_t, step_t, V)).argmax(dim=-1)  # (N,)
        return torch.where(temp == 0, greedy, sampled)

    def logprobs(self, logits: torch.Tensor, tokens: torch.Tensor, n: int):
        """Log-probs of the model's distribution: of each sampled token (N,), and the top n
        (values (N, n), ids (N, n))."""
        logp = torch.log(self.softmax(logits))  # (N, V)
        top = logp.topk(n, dim=-1) if n else (logp[:, :0], tokens[:, None][:, :0])
        return logp.gather(1, tokens[:, None]).squeeze(1), top[0], top[1]
