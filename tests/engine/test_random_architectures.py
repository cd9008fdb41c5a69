"""Models the other tests were not written for: hypothesis draws a config of a supported family
(heads, KV heads from MHA to MQA, head size, width, depth, tied embeddings, RoPE base and
scaling, attention biases, norm epsilon, experts) and the engine's greedy tokens must equal
transformers' generate in float32, token for token up to EOS."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from engine import LLM, SamplingParams
from tests.engine.conftest import hf_greedy
from tests.engine.tiny import VOCAB, make_model

PROMPTS = [[5, 9, 13, 2], list(range(20, 45)), [7]]
MAX_NEW = 8
ROPES = [
    None,
    {"rope_type": "linear", "factor": 2.0},
    {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16,
    },
]


@st.composite
def configs(draw) -> tuple[str, dict]:
    family = draw(st.sampled_from(["llama", "qwen2", "qwen3", "mixtral", "qwen3_moe"]))
    heads = draw(st.sampled_from([1, 2, 4, 8]))
    head_dim = draw(st.sampled_from([8, 16, 32, 64]))
    cfg = dict(
        num_attention_heads=heads,
        num_key_value_heads=draw(st.sampled_from([k for k in (1, 2, 4, 8) if heads % k == 0])),
        hidden_size=heads * head_dim if family in ("qwen2", "mixtral") else 64,
        intermediate_size=draw(st.sampled_from([32, 96])),
        num_hidden_layers=draw(st.integers(1, 3)),
        tie_word_embeddings=draw(st.booleans()),
        rope_theta=draw(st.sampled_from([1e4, 5e5, 1e6])),
        rms_norm_eps=draw(st.sampled_from([1e-6, 1e-5])),
        rope_scaling=draw(st.sampled_from(ROPES if family == "llama" else ROPES[:2])),
    )
    if family in ("llama", "qwen3", "qwen3_moe"):
        cfg["head_dim"] = head_dim
    if family in ("llama", "qwen3"):
        cfg["attention_bias"] = draw(st.booleans())
    if family in ("mixtral", "qwen3_moe"):
        experts = draw(st.sampled_from([2, 4, 8]))
        key = "num_local_experts" if family == "mixtral" else "num_experts"
        cfg |= {key: experts, "num_experts_per_tok": draw(st.integers(1, experts))}
    if family == "qwen3_moe":
        cfg["mlp_only_layers"] = [] if cfg["num_hidden_layers"] == 1 else [1]
    return family, cfg


def _engine_greedy(path: Path) -> list[list[int]]:
    llm = LLM(str(path), dtype="float32", block_size=4)
    params = SamplingParams(temperature=0, max_tokens=MAX_NEW)
    return [o.outputs[0].token_ids for o in llm.generate(PROMPTS, params, use_tqdm=False)]


@given(drawn=configs(), seed=st.integers(0, 2**16))
def test_greedy_tokens_equal_hf_for_any_drawn_config(drawn, seed):
    family, cfg = drawn
    with tempfile.TemporaryDirectory() as tmp:
        path = make_model(Path(tmp) / "m", family, seed=seed, **cfg)
        saved = json.loads((path / "config.json").read_text())
        want = hf_greedy(path, PROMPTS, MAX_NEW, [1])
        got = _engine_greedy(path)  # every drawn config is one the engine says it runs
    assert got == want, (family, {k: saved.get(k) for k in cfg}, got, want)
    assert all(0 <= t < VOCAB for out in got for t in out)
