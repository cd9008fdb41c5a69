"""The offline API: outputs, stop conditions, log-probs, chat, streaming, kernel backends, and
one clear line for every kind of bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from engine import LLM, SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=12)


@pytest.fixture(scope="module")
def llm(llama_dir):
    return LLM(str(llama_dir), block_size=4, dtype="float32")


def test_outputs_carry_prompt_tokens_text_and_finish_reason(llm):
    outs = llm.generate(["The capital of France is", [5, 6, 7]], GREEDY, use_tqdm=False)
    assert outs[0].prompt == "The capital of France is" and outs[1].prompt is None
    assert outs[0].prompt_token_ids == llm.tokenizer("The capital of France is").input_ids
    assert outs[1].prompt_token_ids == [5, 6, 7]
    for o in outs:
        done = o.outputs[0]
        assert len(done.token_ids) == 12 and done.finish_reason == "length"
        assert done.text == llm.tokenizer.decode(done.token_ids, skip_special_tokens=True)


def test_stop_token_ids_end_the_output_with_that_token(llm):
    full = llm.generate([[5, 6, 7]], GREEDY, use_tqdm=False)[0].outputs[0].token_ids
    stop = next(t for i, t in enumerate(full) if i >= 2 and t not in full[:i])
    sp = SamplingParams(temperature=0, max_tokens=12, stop_token_ids=[stop])
    done = llm.generate([[5, 6, 7]], sp, use_tqdm=False)[0].outputs[0]
    assert done.token_ids == full[: full.index(stop) + 1] and done.finish_reason == "stop"


def test_stop_strings_cut_the_text_before_them(llm):
    full = llm.generate(["Kernel"], SamplingParams(temperature=0, max_tokens=24), False)[0]
    text = full.outputs[0].text
    stop = next(text[i : i + 2] for i in range(3, len(text) - 2) if text[i : i + 2].strip())
    sp = SamplingParams(temperature=0, max_tokens=24, stop=[stop])
    done = llm.generate(["Kernel"], sp, use_tqdm=False)[0].outputs[0]
    assert done.text == text[: text.index(stop)] and done.finish_reason == "stop"
    assert len(done.token_ids) < 24


def test_logprobs_rank_the_greedy_token_first(llm):
    sp = SamplingParams(temperature=0, max_tokens=6, logprobs=3)
    done = llm.generate([[5, 6, 7]], sp, use_tqdm=False)[0].outputs[0]
    assert len(done.logprobs) == 6
    for tok, (lp, top) in zip(done.token_ids, done.logprobs):
        assert len(top) == 3 and max(top, key=top.get) == tok and top[tok] == pytest.approx(lp)
        assert lp <= 0


def test_chat_prompts_go_through_the_template(llm):
    ids = llm.encode("hi", chat=True)
    assert llm.tokenizer.decode(ids).startswith("<|user|>hi") and ids != llm.encode("hi")


def test_stream_ends_with_the_generate_output(llm):
    outs = list(llm.stream([5, 6, 7], GREEDY))
    assert outs[-1].finished and not any(o.finished for o in outs[:-1])
    assert (
        outs[-1].outputs[0].token_ids
        == llm.generate([[5, 6, 7]], GREEDY, False)[0].outputs[0].token_ids
    )


def test_triton_solution_kernels_give_the_reference_tokens(llama_dir):
    """rms_norm and softmax on their Triton solutions (interpreted here) inside the model."""
    prompts = [[5, 6, 7], list(range(20, 30))]
    sp = SamplingParams(temperature=0, max_tokens=4, logprobs=2)
    ref = LLM(str(llama_dir), kernels="reference", dtype="float32").generate(
        prompts, sp, use_tqdm=False
    )
    sol = LLM(str(llama_dir), kernels="rms_norm=solution,softmax=solution", dtype="float32")
    assert sol.kernels.bound["rms_norm"] == "solution:triton"
    got = sol.generate(prompts, sp, use_tqdm=False)
    assert [o.outputs[0].token_ids for o in got] == [o.outputs[0].token_ids for o in ref]


def _broken(tmp_path, llama_dir, edit) -> str:
    path = tmp_path / "model"
    shutil.copytree(llama_dir, path)
    edit(path)
    return str(path)


def _set(path, **fields) -> None:
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, **fields}))


BAD_MODELS = {
    "no config.json": (lambda p: (p / "config.json").unlink(), "has no config.json"),
    "no weights": (lambda p: (p / "model.safetensors").unlink(), r"has no \*\.safetensors"),
    "unsupported": (lambda p: _set(p, architectures=["GPT2LMHeadModel"]), "unsupported arch"),
    "bad act": (lambda p: _set(p, hidden_act="gelu"), "unsupported hidden_act"),
    "mlp bias": (lambda p: _set(p, mlp_bias=True), "mlp_bias=true is not supported"),
}


@pytest.mark.parametrize("case", BAD_MODELS)
def test_bad_model_directories_are_one_line_errors(tmp_path, llama_dir, case):
    edit, words = BAD_MODELS[case]
    with pytest.raises(ValueError, match=words) as e:
        LLM(_broken(tmp_path, llama_dir, edit))
    assert "\n" not in str(e.value)


def test_bad_requests_are_one_line_errors(llama_dir):
    llm = LLM(str(llama_dir), kv_cache_tokens=64, block_size=4)
    cases = [
        (lambda: llm.generate([list(range(600))], GREEDY, False), "does not fit the context"),
        (lambda: llm.generate([list(range(60))], GREEDY, False), "too small for one request"),
        (lambda: SamplingParams(max_tokens=0), "max_tokens must be >= 1"),
        (lambda: LLM(str(llama_dir), kernels={"nope": "reference"}), "unknown op 'nope'"),
        (lambda: LLM(str(llama_dir), dtype="int8"), "dtype 'int8' not supported"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words) as e:
            call()
        assert "\n" not in str(e.value)
