"""Load a Hugging Face model directory (config.json + *.safetensors + tokenizer) into the
engine's model; q/k/v and gate/up weights are stacked into one matrix each on the way in."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from safetensors import safe_open

from engine.config import ModelConfig, ModelError, copy_weight, read_json
from engine.models.llama import LlamaForCausalLM
from engine.models.moe import build_moe, copy_moe_weight, expected_experts
from engine.ops import Kernels

# HF name part -> (our parameter, shard index) for the stacked matrices
STACKED = {"q_proj": ("qkv_proj", 0), "k_proj": ("qkv_proj", 1), "v_proj": ("qkv_proj", 2),
           "gate_proj": ("gate_up_proj", 0), "up_proj": ("gate_up_proj", 1)}  # fmt: skip


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    old, _ = torch.get_default_dtype(), torch.set_default_dtype(dtype)
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
    try:  # a key config.json lacks (hidden_size, a rope_scaling field...) fails in here
        cfg = ModelConfig.from_dir(path)
        if ep is not None and not cfg.num_experts:
            raise ModelError(f"{path} is dense: expert parallelism needs Qwen3-MoE or Mixtral")
        with torch.device(device), _default_dtype(dtype):  # params born on the device, in dtype
            if cfg.num_experts:
                model = build_moe(cfg, kernels, max_positions, ep)
            else:
                model = LlamaForCausalLM(cfg, kernels, max_positions)
    except KeyError as e:
        raise ModelError(f"{path / 'config.json'} lacks {e.args[0]!r}, which it needs") from None
    params, loaded = dict(model.named_parameters()), set()
    for file in _weight_files(path):
        with _open(file) as f:
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
        copy_weight(params[name].data, tensor, name)
        return name
    q, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
    sizes = [q, kv, kv] if target == "qkv_proj" else [cfg.intermediate_size] * 2
    start = sum(sizes[:shard])
    copy_weight(params[ours].data[start : start + sizes[shard]], tensor, name)
    return f"{ours}#{shard}"


def _weight_files(path: Path) -> list[Path]:
    """The shards model.safetensors.index.json names (other *.safetensors, such as Mistral's
    consolidated.safetensors, are another copy of the weights), or every *.safetensors."""
    index = path / "model.safetensors.index.json"
    names = set(read_json(index).get("weight_map", {}).values()) if index.is_file() else ()
    files = [path / n for n in sorted(names)] or sorted(path.glob("*.safetensors"))
    if not files:
        raise ModelError(f"{path} has no *.safetensors weights: pass a Hugging Face model dir")
    if missing := [f.name for f in files if not f.is_file()]:
        raise ModelError(f"{index} names {missing[0]}, which is missing: download it again")
    return files


def _open(file: Path):
    try:
        return safe_open(str(file), framework="pt")
    except Exception as e:  # safetensors' SafetensorError: a truncated or foreign file
        raise ModelError(f"{file} is not a readable safetensors file: {e}") from None


def _expected(params: dict, experts: dict[str, set[str]]) -> set[str]:
    """Every parameter, and every shard of a stacked one, as _copy and copy_moe_weight say."""
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

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except Exception as e:  # transformers raises many kinds for a broken tokenizer
        raise ModelError(f"{path}: its tokenizer does not load: {e!r}") from None
