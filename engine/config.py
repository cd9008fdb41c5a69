"""Configuration: the engine's knobs and the model's shape, validated once, frozen after."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

SUPPORTED_ARCHS = {
    "LlamaForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "MixtralForCausalLM": "mixtral",
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelError(ValueError):
    """A model directory the engine cannot use; str() is the one line shown to the user."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    model: str
    kernels: Any = "auto"  # "auto" | "solution" | "reference" | "attempt" | {op: choice} | Kernels
    dtype: str = "auto"  # auto: bfloat16 on a GPU, float32 on a CPU
    device: str = "auto"
    block_size: int = 16  # tokens per KV page
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192  # the per-step token budget (chunked prefill)
    enable_prefix_caching: bool = True
    kv_cache_tokens: int | None = None  # explicit KV budget in tokens; None: from free memory
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None  # None: the model's max_position_embeddings, capped
    kv_cache_dtype: str = "auto"  # auto: the model's dtype; fp8: e4m3 codes + per-head scales
    speculative: dict | None = None  # {"draft": path | "ngram": n | "layers": L, "num_tokens": k}
    enforce_eager: bool = False  # True: no CUDA graphs for decode steps (engine/graphs.py)

    def __post_init__(self) -> None:
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ValueError(f"dtype '{self.dtype}' not supported: auto, {', '.join(DTYPES)}")
        for name in ("block_size", "max_num_seqs", "max_num_batched_tokens", "max_model_len"):
            if (value := getattr(self, name)) is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens={self.max_num_batched_tokens} is below max_num_seqs="
                f"{self.max_num_seqs}: every running sequence needs a token of each step's budget"
            )
        if self.kv_cache_tokens is not None and self.kv_cache_tokens < self.block_size:
            raise ValueError(
                f"kv_cache_tokens={self.kv_cache_tokens} is below one page of "
                f"{self.block_size} tokens: raise it"
            )
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError("gpu_memory_utilization must be in (0, 1]")
        if self.kv_cache_dtype not in ("auto", "fp8"):
            raise ValueError(f"kv_cache_dtype '{self.kv_cache_dtype}' not supported: auto or fp8")
        if self.speculative is not None:
            _check_speculative(self.speculative)

    def torch_device(self) -> torch.device:
        if self.device != "auto":
            return torch.device(self.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def torch_dtype(self) -> torch.dtype:
        if self.dtype != "auto":
            return DTYPES[self.dtype]
        return torch.bfloat16 if self.torch_device().type == "cuda" else torch.float32


def _check_speculative(spec: Any) -> None:
    """{"draft": path} | {"ngram": n} | {"layers": L}, with "num_tokens": k drafts per step."""
    kinds = [k for k in ("draft", "ngram", "layers") if k in (spec or {})]
    if not isinstance(spec, dict) or len(kinds) != 1:
        raise ValueError("speculative needs one of draft=PATH, ngram=N or layers=L")
    unknown = set(spec) - {kinds[0], "num_tokens"}
    if unknown:
        raise ValueError(f"speculative: unknown key {sorted(unknown)[0]!r}")
    k = spec.get("num_tokens", 4)
    if not isinstance(k, int) or not 1 <= k <= 16:
        raise ValueError(f"speculative num_tokens must be in [1, 16], got {k!r}")
    value = spec[kinds[0]]
    if kinds[0] != "draft" and (not isinstance(value, int) or value < 1):
        raise ValueError(f"speculative {kinds[0]} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The fields of a Hugging Face config.json that a Llama-family decoder needs."""

    arch: str  # llama | qwen2 | qwen3 | qwen3_moe | mixtral
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict[str, Any] | None
    max_position_embeddings: int
    tie_word_embeddings: bool
    qkv_bias: bool  # Qwen2, or attention_bias (Llama, Qwen3)
    qk_norm: bool  # Qwen3: RMSNorm over each head of q and k before RoPE
    eos_token_ids: tuple[int, ...] = field(default=())  # config's and generation_config's
    o_bias: bool = False  # attention_bias puts a bias on o_proj too (Qwen2's has none)
    num_experts: int = 0  # 0: a dense model
    top_k: int = 0  # experts per token
    moe_intermediate_size: int = 0  # each expert's F
    norm_topk_prob: bool = True  # renormalise the k routing weights to sum to 1
    sparse_layers: tuple[int, ...] = ()  # layers whose MLP is the MoE block

    def __post_init__(self) -> None:
        if self.num_experts and not 1 <= self.top_k <= self.num_experts:
            raise ModelError(f"num_experts_per_tok={self.top_k} is not in [1, {self.num_experts}]")
        if self.num_heads % self.num_kv_heads:
            raise ModelError(
                f"num_attention_heads={self.num_heads} is not a multiple of "
                f"num_key_value_heads={self.num_kv_heads}"
            )

    @property
    def kv_bytes_per_token(self) -> int:
        """Elements of K and V per token over all layers (times the dtype size for bytes)."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim

    @classmethod
    def from_dir(cls, path: Path) -> ModelConfig:
        file, gen = path / "config.json", path / "generation_config.json"
        if not file.is_file():
            raise ModelError(f"{path} has no config.json: pass a Hugging Face model directory")
        raw, gen = read_json(file), read_json(gen) if gen.is_file() else {}
        archs = raw.get("architectures") or [raw.get("model_type", "unknown")]
        names = {**SUPPORTED_ARCHS, **{v: v for v in SUPPORTED_ARCHS.values()}}
        arch = next((names[a] for a in archs if a in names), None)
        if arch is None:
            raise ModelError(
                f"unsupported architecture {archs or 'unknown'} in {file}: the engine runs "
                f"{', '.join(SUPPORTED_ARCHS)}"
            )
        if raw.get("hidden_act", "silu") != "silu":
            raise ModelError(f"unsupported hidden_act '{raw['hidden_act']}' in {file}: needs silu")
        if arch == "mixtral" and raw.get("sliding_window"):  # Mixtral's means it is on
            raise ModelError(f"{file}: sliding_window attention is not supported by this engine")
        for key in ("mlp_bias", "use_sliding_window"):
            if raw.get(key):
                raise ModelError(f"{file}: {key}=true is not supported by this engine")
        return cls._from_raw(arch, raw, gen.get("eos_token_id"))

    @classmethod
    def _from_raw(cls, arch: str, raw: dict[str, Any], gen_eos: Any = None) -> ModelConfig:
        for key in COUNTS:  # "4" or 0 would fail far from here, or divide by zero
            if raw.get(key) is not None and not (type(raw[key]) is int and raw[key] > 0):
                raise ModelError(f"config.json: {key}={raw[key]!r} is not a positive integer")
        heads, (eps, theta, positions) = raw["num_attention_heads"], HF_DEFAULTS.get(arch, QWEN)
        eos = [e if isinstance(e, list) else [e] for e in (raw.get("eos_token_id"), gen_eos)]
        rope = raw.get("rope_scaling") or raw.get("rope_parameters")
        theta = raw.get("rope_theta") or (rope or {}).get("rope_theta", theta)
        return cls(
            arch=arch,
            vocab_size=raw["vocab_size"],
            hidden_size=raw["hidden_size"],
            intermediate_size=raw["intermediate_size"],
            num_layers=raw["num_hidden_layers"],
            num_heads=heads,
            num_kv_heads=raw.get("num_key_value_heads") or heads,
            head_dim=raw.get("head_dim") or raw["hidden_size"] // heads,
            rms_norm_eps=raw.get("rms_norm_eps", eps),
            rope_theta=float(theta),
            rope_scaling=rope if rope and rope.get("rope_type", "default") != "default" else None,
            max_position_embeddings=raw.get("max_position_embeddings", positions),
            tie_word_embeddings=raw.get("tie_word_embeddings", False),
            qkv_bias=arch == "qwen2" or bool(raw.get("attention_bias", False)),
            o_bias=arch != "qwen2" and bool(raw.get("attention_bias", False)),
            qk_norm=arch in ("qwen3", "qwen3_moe"),
            eos_token_ids=tuple(dict.fromkeys(i for e in eos for i in e if i is not None)),
            **_moe_fields(arch, raw),
        )


COUNTS = """vocab_size hidden_size intermediate_size num_hidden_layers head_dim num_attention_heads
num_key_value_heads max_position_embeddings num_experts num_local_experts num_experts_per_tok
moe_intermediate_size decoder_sparse_step""".split()  # config.json's counts: positive integers
HF_DEFAULTS = {"llama": (1e-6, 1e4, 2048), "mixtral": (1e-5, 1e6, 131072)}  # eps, theta, positions
QWEN = (1e-6, 1e4, 32768)  # transformers' defaults for Qwen2, Qwen3 and Qwen3-MoE


def read_json(file: Path) -> dict[str, Any]:
    try:
        raw = json.loads(file.read_text())
    except ValueError as e:
        raise ModelError(f"{file} is not valid JSON: {e}") from None
    return raw if isinstance(raw, dict) else {}  # a list: "unsupported architecture ['unknown']"


def copy_weight(dst: torch.Tensor, src: torch.Tensor, name: str) -> None:
    """dst.copy_(src) without broadcasting: a checkpoint tensor of another shape is an error."""
    if dst.shape != src.shape:
        raise ModelError(f"weight {name} has shape {[*src.shape]}, expected {[*dst.shape]}")
    dst.copy_(src)


def _moe_fields(arch: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Qwen3-MoE: MoE where (i + 1) % decoder_sparse_step == 0 and i not in mlp_only_layers,
    norm_topk_prob as given; Mixtral: every layer, top-k always renormalised."""
    if arch not in ("qwen3_moe", "mixtral"):
        return {}
    n, experts = raw["num_hidden_layers"], raw.get("num_experts") or raw["num_local_experts"]
    step, dense = raw.get("decoder_sparse_step", 1), set(raw.get("mlp_only_layers") or ())
    sparse = [i for i in range(n) if (i + 1) % step == 0 and i not in dense] if experts else []
    return dict(
        num_experts=experts,
        top_k=raw["num_experts_per_tok"],
        moe_intermediate_size=raw.get("moe_intermediate_size") or raw["intermediate_size"],
        norm_topk_prob=arch == "mixtral" or bool(raw.get("norm_topk_prob", False)),
        sparse_layers=tuple(sparse),
    )
