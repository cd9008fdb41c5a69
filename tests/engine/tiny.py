"""Tiny random-weight Hugging Face models of each supported family, with a byte-level BPE
tokenizer trained on the spot, saved like a real checkpoint directory."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import torch

VOCAB = 384
CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "RMSNorm divides by the root mean square; softmax subtracts the max first.",
    "def add(a, b):\n    return a + b\n",
    "Kernel Dojo: practise GPU kernels and inference engines, one problem at a time.",
] * 3
MOE = dict(num_experts_per_tok=2, rope_theta=1e6)
QWEN3_MOE = dict(num_experts=8, moe_intermediate_size=32, mlp_only_layers=[1])  # layer 1: dense
QWEN3_MOE |= MOE | dict(norm_topk_prob=True)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def make_tokenizer(path: Path) -> None:
    for name, data in _tokenizer_files().items():
        (path / name).write_bytes(data)


@functools.cache
def _tokenizer_files() -> dict[str, bytes]:
    """Train the tokenizer once per session; every model directory gets a copy of its files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB - 8,
        special_tokens=["<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    with tempfile.TemporaryDirectory() as tmp:
        fast.save_pretrained(tmp)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir()}


def make_model(path: Path, family: str, seed: int = 0, **overrides) -> Path:
    """A 2-layer random model of `family` saved under path: llama | qwen2 | qwen3 | mixtral |
    qwen3_moe (its layer 1 a dense MLP, as mlp_only_layers allows)."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        MixtralConfig,
        MixtralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen3Config,
        Qwen3ForCausalLM,
        Qwen3MoeConfig,
        Qwen3MoeForCausalLM,
    )

    common = dict(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.08,  # peakier logits than 0.02: fewer near-ties between tokens
        bos_token_id=0,
        eos_token_id=1,
    )
    kinds = {
        "llama": (
            LlamaConfig,
            LlamaForCausalLM,
            dict(
                rope_theta=50000.0,
                tie_word_embeddings=True,
                rope_scaling={
                    "rope_type": "llama3",
                    "factor": 4.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 64,
                },
            ),
        ),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM, dict(rope_theta=1e6)),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM, dict(head_dim=32, tie_word_embeddings=True)),
        "qwen3_moe": (Qwen3MoeConfig, Qwen3MoeForCausalLM, dict(head_dim=32, **QWEN3_MOE)),
        "mixtral": (MixtralConfig, MixtralForCausalLM, dict(num_local_experts=4, **MOE)),
    }
    config_cls, model_cls, extra = kinds[family]
    torch.manual_seed(seed)
    model = model_cls(config_cls(**{**common, **extra, **overrides})).eval()
    for layer in model.model.layers:  # random biases (Qwen2's, Llama's attention_bias), so
        attn = layer.self_attn  # that a dropped bias changes the tokens
        for proj in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj):
            if proj.bias is not None:
                torch.nn.init.normal_(proj.bias, std=0.5)
    if family in ("qwen3", "qwen3_moe"):  # norms away from 1: a skipped q/k norm changes tokens
        for layer in model.model.layers:
            for norm in (layer.self_attn.q_norm, layer.self_attn.k_norm):
                torch.nn.init.uniform_(norm.weight, 0.5, 2.0)
    model.save_pretrained(str(path))
    make_tokenizer(path)
    return path
