"""The bench workloads beyond nano-vllm's: the multi-turn chat workload (seeded, each turn the
conversation so far; the prefix cache's hit rate from the scheduler's counter, on vs off with
identical greedy answers), bs=1 decode alone, and the random Llama checkpoints it runs on."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine import LLM, SamplingParams
from grader.cli.app import app
from grader.engine_tools.random_model import (
    LLAMA3_8B,
    TINY_LLAMA,
    llama_tensors,
    write_random_llama,
)
from grader.engine_tools.workloads import ChatWorkload, chat_bench, run_turns
from tests.engine.conftest import hf_greedy

S = 4  # page size of the engines here: small, so that short conversations fill pages
SMALL = ChatWorkload(conversations=3, turns=3, system_len=21, user_len=6, answer_len=5)

workloads = st.builds(
    ChatWorkload,
    conversations=st.integers(1, 4),
    turns=st.integers(1, 4),
    system_len=st.integers(1, 40),
    user_len=st.integers(1, 12),
    answer_len=st.integers(1, 6),
    seed=st.integers(0, 3),
)


@settings(max_examples=20, deadline=None)
@given(work=workloads)
def test_chat_messages_come_from_the_seed_alone(work):
    system, users = work.messages(vocab=50)
    assert (system, users) == work.messages(vocab=50)
    assert len(system) == work.system_len and len(users) == work.conversations
    for turns in users:
        assert len(turns) == work.turns
        assert all(max(work.user_len // 2, 1) <= len(u) <= work.user_len for u in turns)
        assert all(0 <= t < 50 for u in turns for t in u)
    other = replace(work, seed=work.seed + 1).messages(vocab=50)
    assert other != (system, users) or work.system_len + work.user_len <= 2


def test_chat_workload_refuses_empty_shapes():
    with pytest.raises(ValueError, match="turns must be >= 1"):
        ChatWorkload(turns=0)


def _recorded(llm: LLM) -> list:
    """llm.generate, wrapped to record each call's prompts and answers."""
    calls, generate = [], llm.generate

    def spy(prompts, params, use_tqdm=True):
        outs = generate(prompts, params, use_tqdm)
        calls.append(([list(p) for p in prompts], [o.outputs[0].token_ids for o in outs]))
        return outs

    llm.generate = spy
    return calls


def test_each_turn_is_the_conversation_so_far_and_the_counter_sees_its_reuse(llama_dir):
    """Turn t + 1's prompt is turn t's prompt, its answer and the next user message; the
    scheduler's count of cached prompt tokens is exactly the full pages of what the previous
    turn computed (its prompt and answer but the last token), none on turn 0."""
    llm = LLM(str(llama_dir), block_size=S, dtype="float32")
    calls = _recorded(llm)
    figures, answers = run_turns(llm, SMALL)
    system, users = SMALL.messages(llm.model_config.vocab_size)
    assert [c[0] for c in calls][0] == [system + u[0] for u in users]
    expected_cached = 0
    for t in range(1, SMALL.turns):
        (before, said), (now, _) = calls[t - 1], calls[t]
        assert now == [p + a + u[t] for p, a, u in zip(before, said, users)]
        expected_cached += sum((len(p) + len(a) - 1) // S * S for p, a in zip(before, said))
    assert answers == [c[1] for c in calls]
    assert all(len(a) == SMALL.answer_len for turn in answers for a in turn)
    assert figures["cached_prompt_tokens"] == expected_cached > 0
    assert figures["prompt_tokens"] == sum(len(p) for c in calls for p in c[0])
    assert figures["hit_rate_per_turn"][0] == 0 and figures["preemptions"] == 0


def test_chat_bench_hit_rate_and_speedup_with_identical_greedy_answers(llama_dir):
    result = chat_bench(str(llama_dir), SMALL, block_size=S, dtype="float32")
    on, off = result["cache_on"], result["cache_off"]
    assert 0 < on["hit_rate"] < 1 and on["cached_prompt_tokens"] > 0
    assert off["hit_rate"] == 0 and off["cached_prompt_tokens"] == 0
    assert on["prompt_tokens"] == off["prompt_tokens"]
    assert on["output_tokens"] == off["output_tokens"] == 3 * 3 * 5
    assert result["greedy_equal"] and result["answers_equal"] == result["answers"] == 9
    assert result["first_divergence"] is None
    assert result["speedup"] == pytest.approx(off["seconds"] / on["seconds"])
    assert on["hit_rate"] == on["cached_prompt_tokens"] / on["prompt_tokens"]


def _engine(*args):
    return CliRunner().invoke(app, ["engine", "bench", *map(str, args)])


def test_cli_chat_json_has_the_figures(llama_dir):
    shape = ["--conversations", 2, "--turns", 2, "--system-len", 12, "--user-len", 4]
    result = _engine(
        "--workload", "chat", "--model", llama_dir, *shape, "--answer-len", 3, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workload"]["kind"] == "chat" and data["workload"]["conversations"] == 2
    for key in ("speedup", "greedy_equal", "answers_equal", "answers", "first_divergence"):
        assert key in data
    for mode in ("cache_on", "cache_off"):
        assert {"seconds", "hit_rate", "prompt_tokens", "tokens_per_s"} <= set(data[mode])
    assert data["cache_on"]["hit_rate"] > 0 == data["cache_off"]["hit_rate"]


def test_cli_bs1_alone_reports_the_model_and_the_decode_rate(llama_dir):
    result = _engine("--workload", "bs1", "--model", llama_dir, "--bs1-tokens", 6, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workload"] == {"kind": "bs1"} and "engine" not in data and "hf" not in data
    assert data["model"]["num_layers"] == 2 and data["model"]["params"] > 0
    b = data["bs1_decode"]
    assert b["tokens_per_s"] > 0 and b["ms_per_token"] == pytest.approx(1e3 / b["tokens_per_s"])
    assert b["new_tokens"] == 6 and b["bytes_per_token"] == b["weight_bytes"] + b["kv_bytes"]
    assert ("roofline_fraction" in b) == torch.cuda.is_available()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workload", "nope"], "error: --workload nope: choose throughput, chat or bs1"),
        (["--workload", "chat", "--turns", "0"], "error: chat workload: turns must be >= 1, got 0"),
        (["--workload", "bs1", "--bs1-tokens", "1"], "error: --bs1-tokens 1: a decode rate"),
    ],
)
def test_cli_bench_user_errors_are_one_line(llama_dir, args, message):
    result = _engine("--model", llama_dir, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(message) and "\n" not in result.stderr.strip()


def test_llama3_8b_shape_has_llama3_8b_parameter_count():
    total = sum(torch.Size(shape).numel() for _, shape in llama_tensors(LLAMA3_8B))
    assert total == 8_030_261_248  # Meta-Llama-3-8B


def test_random_llama_checkpoint_loads_in_the_engine_as_in_transformers(tmp_path):
    """Sharded as the hub shards (an index naming every tensor); the engine's greedy tokens
    equal HF's on it, so q/k/v, gate/up and the untied head landed where HF puts them."""
    made = write_random_llama(tmp_path, TINY_LLAMA, std=0.08, shard_bytes=40_000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert made["shards"] >= 2 and len(set(index["weight_map"].values())) == made["shards"]
    assert set(index["weight_map"]) == {name for name, _ in llama_tensors(TINY_LLAMA)}
    prompts = [[5, 9, 300, 17], list(range(40, 70))]
    want = hf_greedy(tmp_path, prompts, 8, [TINY_LLAMA["eos_token_id"]])
    llm = LLM(str(tmp_path), dtype="float32")
    assert llm.model_config.tie_word_embeddings is False and llm.model_config.rope_theta == 5e5
    outs = llm.generate(prompts, SamplingParams(temperature=0, max_tokens=8), use_tqdm=False)
    assert [o.outputs[0].token_ids for o in outs] == want
