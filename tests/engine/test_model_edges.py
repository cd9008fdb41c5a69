"""Model directories and requests at the edges of what the engine supports: attention biases on
every projection, generation_config.json's EOS, sharded checkpoints with an index, and one
clear line for every malformed directory, bad tensor shape or out-of-vocabulary token id."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from engine import LLM, SamplingParams
from grader.cli.app import app
from tests.engine.conftest import hf_greedy
from tests.engine.tiny import make_model

PROMPTS = [[5, 6, 7], list(range(10, 42)), [200]]
GREEDY = SamplingParams(temperature=0, max_tokens=8)


def _tokens(path, prompts=PROMPTS, params=GREEDY, **kwargs) -> list[list[int]]:
    llm = LLM(str(path), dtype="float32", block_size=4, **kwargs)
    return [o.outputs[0].token_ids for o in llm.generate(prompts, params, use_tqdm=False)]


def _copy(src, tmp_path, name="model"):
    path = tmp_path / name
    shutil.copytree(src, path)
    return path


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_attention_bias_on_q_k_v_and_o_equals_hf(tmp_path, family):
    """Llama's and Qwen3's attention_bias puts a bias on o_proj too (Qwen2's has none)."""
    path = make_model(tmp_path, family, attention_bias=True)
    assert "model.layers.0.self_attn.o_proj.bias" in load_file(path / "model.safetensors")
    assert _tokens(path) == hf_greedy(path, PROMPTS, 8, [1])


def test_generation_config_eos_ends_the_output_as_in_hf(llama_dir, tmp_path):
    """Instruct checkpoints (Llama 3, Qwen) list extra EOS ids in generation_config.json only."""
    full = _tokens(llama_dir, [[5, 6, 7]], SamplingParams(temperature=0, max_tokens=12))[0]
    stop = next(t for i, t in enumerate(full) if i >= 2 and t not in full[:i])
    path = _copy(llama_dir, tmp_path)
    gen = json.loads((path / "generation_config.json").read_text())
    (path / "generation_config.json").write_text(json.dumps({**gen, "eos_token_id": [1, stop]}))
    want = full[: full.index(stop) + 1]
    assert _tokens(path, [[5, 6, 7]], SamplingParams(temperature=0, max_tokens=12)) == [want]
    ignore = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)
    assert _tokens(path, [[5, 6, 7]], ignore) == [full]


def _shard(src, tmp_path):
    """src re-saved as several shards with model.safetensors.index.json, plus a stray
    consolidated.safetensors in another naming scheme (as Mistral's repositories ship)."""
    from transformers import AutoModelForCausalLM

    path = _copy(src, tmp_path)
    (path / "model.safetensors").unlink()
    AutoModelForCausalLM.from_pretrained(str(src)).save_pretrained(path, max_shard_size="60KB")
    save_file(
        {"layers.0.attention.wq.weight": torch.zeros(2, 2)}, path / "consolidated.safetensors"
    )
    return path


def test_a_sharded_checkpoint_reads_the_files_its_index_names(llama_dir, tmp_path):
    path = _shard(llama_dir, tmp_path)
    assert len(list(path.glob("model-*.safetensors"))) > 2
    assert _tokens(path) == _tokens(llama_dir)
    shard = sorted(path.glob("model-*.safetensors"))[1]
    shard.unlink()
    with pytest.raises(ValueError, match=f"names {shard.name}, which is missing") as e:
        LLM(str(path))
    assert "\n" not in str(e.value)


def _edit_weights(edit):
    def apply(path):
        sd = load_file(path / "model.safetensors")
        edit(sd)
        save_file(sd, path / "model.safetensors")

    return apply


def _edit_config(edit, name="config.json"):
    def apply(path):
        cfg = json.loads((path / name).read_text())
        edit(cfg)
        (path / name).write_text(json.dumps(cfg))

    return apply


def _put(name, shape):
    return _edit_weights(lambda sd: sd.__setitem__(name, torch.ones(shape)))


LAYER0 = "model.layers.0."
BAD_LLAMA = {  # (edit, words of the one line): shapes that broadcast must fail as loudly
    "norm of one element": (_put("model.norm.weight", (1,)), r"shape \[1\], expected \[64\]"),
    "flat q_proj": (_put(LAYER0 + "self_attn.q_proj.weight", (64,)), r"expected \[64, 64\]"),
    "short vocabulary": (_put("model.embed_tokens.weight", (100, 64)), r"shape \[100, 64\]"),
    "wide k_proj": (_put(LAYER0 + "self_attn.k_proj.weight", (64, 64)), r"expected \[32, 64\]"),
    "config without hidden_size": (_edit_config(lambda c: c.pop("hidden_size")), "hidden_size"),
    "rope without factor": (_edit_config(lambda c: c["rope_parameters"].pop("factor")), "factor"),
    "heads a string": (_edit_config(lambda c: c.update(num_attention_heads="4")), "'4' is not"),
    "no layers": (_edit_config(lambda c: c.update(num_hidden_layers=0)), "layers=0 is not a pos"),
    "config not JSON": (lambda p: (p / "config.json").write_text("{oops"), "not valid JSON"),
    "config a list": (lambda p: (p / "config.json").write_text("[1]"), "unsupported arch"),
    "truncated weights": (
        lambda p: (p / "model.safetensors").write_bytes(
            (p / "model.safetensors").read_bytes()[:99]
        ),
        "not a readable safetensors file",
    ),
    "broken tokenizer": (lambda p: (p / "tokenizer.json").write_text("{oops"), "tokenizer"),
}
BAD_MOE = {
    "expert of the wrong shape": (
        _put(LAYER0 + "mlp.experts.0.gate_proj.weight", (3, 3)),
        r"shape \[3, 3\], expected \[32, 64\]",
    ),
    "router of the wrong shape": (_put(LAYER0 + "mlp.gate.weight", (3, 64)), r"expected \[8, 64\]"),
    "sparse step 0": (_edit_config(lambda c: c.update(decoder_sparse_step=0)), "step=0 is not"),
    "no experts per token": (_edit_config(lambda c: c.pop("num_experts_per_tok")), "num_experts_"),
}


@pytest.fixture(scope="module")
def moe_dir(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("qwen3_moe"), "qwen3_moe")


@pytest.mark.parametrize("case", [*BAD_LLAMA, *BAD_MOE])
def test_bad_model_directories_are_one_line_exit_2_from_the_cli(case, llama_dir, moe_dir, tmp_path):
    edit, words = BAD_LLAMA.get(case) or BAD_MOE[case]
    path = _copy(moe_dir if case in BAD_MOE else llama_dir, tmp_path)
    edit(path)
    result = CliRunner().invoke(app, ["engine", "run", "hi", "--model", str(path)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert re.search(words, result.stderr), result.stderr


def test_token_ids_outside_the_vocabulary_are_refused_and_the_engine_runs_on(llama_dir):
    """Checked on the way in: inside a step, the embedding lookup fails (on a GPU, a device
    assert that ends the process) and the request stays in the batch."""
    llm = LLM(str(llama_dir), dtype="float32", block_size=4)
    for bad in ([5, 384], [-1], [5, 10**9]):
        with pytest.raises(ValueError, match=f"token id {bad[-1]} is outside") as e:
            llm.generate([bad], GREEDY, use_tqdm=False)
        assert "\n" not in str(e.value) and llm.scheduler.done()
    with pytest.raises(TypeError, match="integer"):  # int() would floor it to token 5
        llm.generate([[5.5]], GREEDY, use_tqdm=False)
    with pytest.raises(ValueError, match="outside"):  # the good prompt before it is not queued
        llm.generate([[5, 6], [5, 384]], GREEDY, use_tqdm=False)
    assert llm.scheduler.done()
    assert [o.outputs[0].token_ids for o in llm.generate(PROMPTS, GREEDY, False)] == _tokens(
        llama_dir
    )


@pytest.mark.parametrize("temperature", [float("nan"), float("inf")])
def test_sampling_params_refuse_a_temperature_that_is_not_finite(temperature):
    """nan made every draw token 0; inf sampled uniformly."""
    with pytest.raises(ValueError, match="temperature must be finite"):
        SamplingParams(temperature=temperature)


@pytest.mark.parametrize("spec", [None, {"layers": 1}])
def test_a_stop_string_completed_by_the_last_allowed_token_still_stops(llama_dir, spec):
    """finish_reason "stop" and the text cut before the stop string, whether or not max_tokens
    ran out on the same token (it said "length" and kept the stop string)."""
    llm = LLM(str(llama_dir), dtype="float32", block_size=4, speculative=spec)
    full = llm.generate(["Kernel"], SamplingParams(temperature=0, max_tokens=16), False)
    ids, decode = full[0].outputs[0].token_ids, llm.tokenizer.decode
    for n in range(2, len(ids)):
        before, text = decode(ids[: n - 1]), decode(ids[:n])
        stop = text[len(before) :]
        if stop.strip() and stop not in before:
            break
    for max_tokens in (n, n + 2):
        sp = SamplingParams(temperature=0, max_tokens=max_tokens, stop=[stop])
        done = llm.generate(["Kernel"], sp, use_tqdm=False)[0].outputs[0]
        assert (done.token_ids, done.finish_reason) == (ids[:n], "stop"), max_tokens
        assert done.text == text[: text.index(stop)]


@pytest.mark.parametrize("value", [0, -5])
def test_a_max_model_len_below_one_is_refused(llama_dir, value):
    """0 was taken for "not given" (the model's own length), -5 failed inside torch."""
    with pytest.raises(ValueError, match=f"max_model_len must be >= 1, got {value}"):
        LLM(str(llama_dir), max_model_len=value)


@pytest.mark.parametrize(
    "arch, hf",
    [("llama", "LlamaConfig"), ("qwen2", "Qwen2Config"), ("qwen3", "Qwen3Config"),
     ("qwen3_moe", "Qwen3MoeConfig"), ("mixtral", "MixtralConfig")],
)  # fmt: skip
def test_keys_a_config_leaves_out_take_transformers_defaults(arch, hf):
    """A hand-written config.json may omit eps, theta and the context: HF reads its class's
    defaults then (Mixtral's differ: 1e-5, 1e6, 131072), and so must the engine."""
    import transformers

    from engine.config import ModelConfig

    raw = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
           "num_attention_heads": 4, "num_local_experts": 2, "num_experts": 2,
           "num_experts_per_tok": 1}  # fmt: skip
    ours, theirs = ModelConfig._from_raw(arch, raw), getattr(transformers, hf)()
    assert ours.rms_norm_eps == theirs.rms_norm_eps
    assert ours.rope_theta == theirs.rope_parameters["rope_theta"]
    assert ours.max_position_embeddings == theirs.max_position_embeddings
