"""Llama-family decoder (Llama 3 / SmolLM2, Qwen2, Qwen3) over a flat batch of T tokens from many
sequences: K/V go to the paged pool, every norm goes through the kernel table.

Letters: T tokens in the step, H hidden size, Hq/Hkv query/key-value heads, D head dim,
I intermediate size, V vocabulary, N sequences that sample this step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.attention import AttentionMetadata, paged_attention
from engine.config import ModelConfig, ModelError
from engine.ops import Kernels


def rope_inv_freq(cfg: ModelConfig) -> torch.Tensor:
    """Rotary frequencies (D/2,) in fp32, with Llama 3's long-context rescaling when asked."""
    D = cfg.head_dim
    inv_freq = 1.0 / cfg.rope_theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D)
    scaling = cfg.rope_scaling or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        return inv_freq / scaling["factor"]
    if kind != "llama3":
        if kind != "default":
            raise ModelError(f"rope_type '{kind}' is not supported: default, linear or llama3")
        return inv_freq
    # Llama 3: long wavelengths (low frequencies) slow down by `factor`, short ones stay, and
    # the band in between blends the two linearly in 1/wavelength.
    factor, old_len = scaling["factor"], scaling["original_max_position_embeddings"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old_len / low, inv_freq / factor, inv_freq)
    blend = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - blend) * scaled / factor + blend * scaled
    medium = (wavelen >= old_len / high) & (wavelen <= old_len / low)
    return torch.where(medium, smoothed, scaled)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding in HF's half-split layout: x (T, heads, D), cos/sin (T, 1, D)."""
    x1, x2 = x.chunk(2, dim=-1)  # (T, heads, D/2) each
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float, kernels: Kernels) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps, self.kernels = eps, kernels

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None):
        if residual is None:
            return self.kernels.rms_norm(x, self.weight, self.eps)
        return self.kernels.fused_add_rms_norm(x, residual, self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels: Kernels) -> None:
        super().__init__()
        self.Hq, self.Hkv, self.D = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        # q, k and v in one matmul: [Wq; Wk; Wv] stacked along the output dim at load time
        self.qkv_proj = nn.Linear(cfg.hidden_size, (self.Hq + 2 * self.Hkv) * self.D, cfg.qkv_bias)
        self.o_proj = nn.Linear(self.Hq * self.D, cfg.hidden_size, bias=cfg.o_bias)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(self.D, cfg.rms_norm_eps, kernels)
            self.k_norm = RMSNorm(self.D, cfg.rms_norm_eps, kernels)
        self.qk_norm, self.kernels = cfg.qk_norm, kernels

    def forward(self, x, cos, sin, kv: tuple[torch.Tensor, torch.Tensor], meta):
        T = x.shape[0]
        qkv = self.qkv_proj(x)  # (T, (Hq + 2 Hkv) D)
        q, k, v = qkv.split([self.Hq * self.D, self.Hkv * self.D, self.Hkv * self.D], dim=-1)
        q = q.reshape(T, self.Hq, self.D)  # (T, Hq, D)
        k = k.reshape(T, self.Hkv, self.D)  # (T, Hkv, D)
        v = v.reshape(T, self.Hkv, self.D)  # (T, Hkv, D)
        if self.qk_norm:  # Qwen3 normalises each head of q and k before the rotation
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        out = paged_attention(q, k, v, kv[0], kv[1], meta, self.kernels)  # (T, Hq, D)
        return self.o_proj(out.reshape(T, self.Hq * self.D))  # (T, H)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_up_proj = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)  # (T, I) each
        return self.down_proj(F.silu(gate) * up)  # (T, H)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels: Kernels, mlp: nn.Module | None = None) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, kernels)
        self.self_attn = Attention(cfg, kernels)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, kernels)
        self.mlp = MLP(cfg) if mlp is None else mlp  # an MoE block in models/moe.py

    def forward(self, h, residual, cos, sin, kv, meta):
        # pre-norm residual stream: residual += sublayer(norm(residual)), with the add fused
        # into the next norm (h is the previous sublayer's output, residual the stream)
        h, residual = (
            (self.input_layernorm(h), h)
            if residual is None
            else (self.input_layernorm(h, residual))
        )
        h = self.self_attn(h, cos, sin, kv, meta)  # (T, H)
        h, residual = self.post_attention_layernorm(h, residual)
        return self.mlp(h), residual  # (T, H) each


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels: Kernels, mlp_for=None) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(
            DecoderLayer(cfg, kernels, mlp_for(i) if mlp_for else None)
            for i in range(cfg.num_layers)
        )
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, kernels)


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels: Kernels, max_positions: int, mlp_for=None):
        """mlp_for(i): layer i's MLP module when it is not the dense SwiGLU MLP."""
        super().__init__()
        self.cfg = cfg
        self.model = Decoder(cfg, kernels, mlp_for)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        freqs = torch.outer(torch.arange(max_positions).float(), rope_inv_freq(cfg))  # (P, D/2)
        self.register_buffer("rope", torch.cat((freqs, freqs), dim=-1), persistent=False)

    def forward(self, input_ids, positions, kv_cache, meta: AttentionMetadata) -> torch.Tensor:
        """Hidden states (T, H) of tokens input_ids (T,) at positions (T,)."""
        h = self.model.embed_tokens(input_ids)  # (T, H)
        angles = self.rope[positions].unsqueeze(1)  # (T, 1, D) fp32
        cos, sin = angles.cos().to(h.dtype), angles.sin().to(h.dtype)  # HF rounds them to dtype
        residual = None
        for layer, kv in zip(self.model.layers, kv_cache):
            h, residual = layer(h, residual, cos, sin, kv, meta)
        h, _ = self.model.norm(h, residual)
        return h

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm_head(h).float()  # (N, V) fp32 for sampling
