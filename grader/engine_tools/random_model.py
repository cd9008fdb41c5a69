"""Random-weight Llama checkpoints of any shape, laid out as the hub lays them out (config.json,
model-0000k-of-0000n.safetensors shards and their index), made without a download: the weights
are drawn on the device in bf16 shard by shard, so an 8B-shaped model takes seconds on a GPU."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

LLAMA3_8B = dict(
    vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
    num_attention_heads=32, num_key_value_heads=8, head_dim=128, rope_theta=500_000.0,
    rms_norm_eps=1e-5, max_position_embeddings=8192, tie_word_embeddings=False,
    bos_token_id=128000, eos_token_id=128001,
)  # fmt: skip
TINY_LLAMA = dict(
    LLAMA3_8B, vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=16, bos_token_id=0, eos_token_id=1,
)  # fmt: skip


def llama_tensors(cfg: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(HF name, shape) of every weight of a Llama checkpoint with this config, in file order."""
    H, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    q = cfg["num_attention_heads"] * cfg["head_dim"]
    kv = cfg["num_key_value_heads"] * cfg["head_dim"]
    out = [("model.embed_tokens.weight", (V, H))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (H,)),
            (p + "self_attn.q_proj.weight", (q, H)),
            (p + "self_attn.k_proj.weight", (kv, H)),
            (p + "self_attn.v_proj.weight", (kv, H)),
            (p + "self_attn.o_proj.weight", (H, q)),
            (p + "post_attention_layernorm.weight", (H,)),
            (p + "mlp.gate_proj.weight", (F, H)),
            (p + "mlp.up_proj.weight", (F, H)),
            (p + "mlp.down_proj.weight", (H, F)),
        ]
    out.append(("model.norm.weight", (H,)))
    if not cfg.get("tie_word_embeddings", False):
        out.append(("lm_head.weight", (V, H)))
    return out


def _shards(tensors, shard_bytes: int) -> list[list[tuple[str, tuple[int, ...]]]]:
    """Consecutive runs of tensors of about shard_bytes each (in bf16)."""
    shards, size = [[]], 0
    for name, shape in tensors:
        nbytes = 2 * torch.Size(shape).numel()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    return shards


def write_random_llama(
    path: Path, cfg: dict, device: str = "cpu", std: float = 0.02, seed: int = 0,
    shard_bytes: int = 4 << 30,
) -> dict:  # fmt: skip
    """Write a random bf16 Llama checkpoint with this config under path (norms are ones, the
    rest normal with this std); returns its parameter count, bytes, shards and seconds."""
    from safetensors.torch import save_file
    from transformers import LlamaConfig

    start, path = time.perf_counter(), Path(path)
    path.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator(device).manual_seed(seed)
    shards, weight_map, total = _shards(llama_tensors(cfg), shard_bytes), {}, 0
    for k, shard in enumerate(shards):
        name = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for tname, shape in shard:
            if len(shape) == 1:
                t = torch.ones(shape, dtype=torch.bfloat16, device=device)
            else:
                t = torch.randn(shape, generator=gen, dtype=torch.bfloat16, device=device) * std
            tensors[tname] = t.cpu()
            weight_map[tname] = name
            total += t.numel()
        save_file(tensors, str(path / name), metadata={"format": "pt"})
        del tensors
    index = {"metadata": {"total_size": 2 * total}, "weight_map": weight_map}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    config = LlamaConfig(**cfg, hidden_act="silu", initializer_range=std)
    config.save_pretrained(str(path))
    seconds = time.perf_counter() - start
    return {"params": total, "bytes": 2 * total, "shards": len(shards), "seconds": seconds}
