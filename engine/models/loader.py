"""Load a Hugging Face model directory (config.json + *.safetensors + tokenizer) into the
engine's model; q/k/v and gate/up weights are stacked into one matrix each on the way in."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from safetensors import safe_open

from engine.config import ModelConfig, ModelError
from engine.models.llama import LlamaForCausalLM
from engine.models.moe import build_moe, copy_moe_weight, expected_experts
from engine.ops import Kernels

# HF name part -> (our parameter, shard index) for the stacked matrices
STACKED = {
    "q_proj": ("qkv_proj", 0),
    "k_proj": ("qkv_proj", 1),
    "v_proj": ("qkv_proj", 2),
    "gate_proj": ("gate_up_proj", 0),
    "up_proj": ("gate_up_proj", 1),
}


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def load_model(
    path: Path,
    kernels: Kernels,
    dtype: torch.dtype,
    device: torch.device,
    max_positions: int,
    ep=None,  # engine.dist.ExpertParallel: load only this rank's experts
) -> tuple[LlamaForCausalLM, ModelConfig]:
    if not path.is_dir():
        raise ModelError(f"model directory {path} does not exist")
    cfg = ModelConfig.from_dir(path)
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise ModelError(f"{path} has no *.safetensors weights: pass a Hugging Face model dir")
    if ep is not None and not cfg.num_experts:
        raise ModelError(f"{path} is a dense model: expert parallelism needs Qwen3-MoE or Mixtral")
    with torch.device(device), _default_dtype(dtype):  # params born on the device, in dtype
        if cfg.num_experts:
            model = build_moe(cfg, kernels, max_positions, ep)
        else:
            model = LlamaForCausalLM(cfg, kernels, max_positions)
    params = dict(model.named_parameters())
    loaded = set()
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():
                keys = copy_moe_weight(model, name, f) if cfg.num_experts else None
                if keys is None:
                    keys = [_copy(params, name, f.get_tensor(name), cfg)]
                loaded.update(keys)
    missing = sorted(_expected(params, expected_experts(model)) - loaded)
    if missing:
        raise ModelError(f"{path}: weights missing for {missing[0]} ({len(missing)} in all)")
    return model.eval(), cfg


def _copy(params: dict, name: str, tensor: torch.Tensor, cfg: ModelConfig) -> str | None:
    """Copy one checkpoint tensor into its place; returns the parameter it filled."""
    parts = name.split(".")
    stacked = next((p for p in parts if p in STACKED), None)
    if "rotary_emb" in name or (name == "lm_head.weight" and cfg.tie_word_embeddings):
        return None  # inv_freq buffers some checkpoints carry; a tied head's duplicate
    target, shard = STACKED[stacked] if stacked else (None, 0)
    ours = name.replace(stacked, target) if stacked else name
    if ours not in params:
        raise ModelError(f"checkpoint weight {name} has no place in a {cfg.arch} model")
    if stacked is None:
        params[name].data.copy_(tensor)
        return name
    q, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
    sizes = [q, kv, kv] if target == "qkv_proj" else [cfg.intermediate_size] * 2
    start = sum(sizes[:shard])
    params[ours].data[start : start + sizes[shard]].copy_(tensor)
    return f"{ours}#{shard}"


def _expected(params: dict, experts: dict[str, set[str]]) -> set[str]:
    """Every parameter, and every shard of a stacked one, as _copy and copy_moe_weight name
    them."""
    shards = {"qkv_proj": 3, "gate_up_proj": 2}
    out = set()
    for name in params:
        n = next((k for t, k in shards.items() if f".{t}." in name), 0)
        out |= experts.get(name) or ({f"{name}#{i}" for i in range(n)} if n else {name})
    return out


def load_tokenizer(path: Path):
    """The directory's tokenizer, or None when it has none (token-id prompts still work)."""
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))
