"""MoE models (Qwen3-MoE with and without renormalised top-k, Mixtral): greedy tokens equal
transformers' generate in float32; expert parallelism over 2 gloo ranks equals one process;
the MoE block equals a per-token loop; the loader reads both expert layouts and names a missing
expert in one line."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from engine import LLM, SamplingParams
from engine.config import ModelConfig, ModelError
from engine.models.moe import SparseMoE, build_moe
from engine.ops import load_kernels
from tests.engine.conftest import hf_greedy
from tests.engine.test_matches_hf import MAX_NEW, MODES, PROMPTS
from tests.engine.tiny import make_model

MODELS = {  # name -> (family, overrides); unnormed has the weights of normed, only the flag differs
    "qwen3_moe": ("qwen3_moe", {}),
    "qwen3_moe_unnormed": ("qwen3_moe", {"norm_topk_prob": False}),
    "mixtral": ("mixtral", {}),
}


@pytest.fixture(scope="module")
def moe_dirs(tmp_path_factory) -> dict:
    return {
        name: make_model(tmp_path_factory.mktemp(name), family, **overrides)
        for name, (family, overrides) in MODELS.items()
    }


@pytest.fixture(scope="module")
def hf_tokens(moe_dirs) -> dict:
    return {name: hf_greedy(path, PROMPTS, MAX_NEW, [1]) for name, path in moe_dirs.items()}


def _tokens(path, prompts=PROMPTS, **kwargs) -> list[list[int]]:
    llm = LLM(str(path), block_size=4, dtype="float32", **kwargs)
    params = SamplingParams(temperature=0, max_tokens=MAX_NEW)
    return [o.outputs[0].token_ids for o in llm.generate(prompts, params, use_tqdm=False)]


def test_the_two_router_conventions_give_different_tokens(hf_tokens):
    assert hf_tokens["qwen3_moe"] != hf_tokens["qwen3_moe_unnormed"], "norm_topk_prob unused"


@pytest.mark.parametrize(  # a scheduling path each, to keep it quick: all of them mix batches
    ("name", "mode"),
    [
        ("qwen3_moe", "preemption"),
        ("qwen3_moe_unnormed", "chunked_prefill"),
        ("mixtral", "prefix_cache"),
    ],
)
def test_greedy_tokens_equal_hf_generate(moe_dirs, hf_tokens, name, mode):
    got = _tokens(moe_dirs[name], **MODES[mode])
    for i, (g, want) in enumerate(zip(got, hf_tokens[name])):
        assert g == want, f"{name}/{mode}: prompt {i}: {g} vs HF {want}"


def _generate_on_rank(path: str, prompts: list[list[int]]) -> list[list[int]] | None:
    """Run on every rank of a Ranks pool: rank 0 generates, the others follow."""
    from engine.dist import EPLLM

    kw = dict(block_size=4, dtype="float32", device="cpu")  # gloo moves CPU tensors
    llm = EPLLM(path, max_num_seqs=4, max_num_batched_tokens=16, **kw)
    if llm.ep.rank:
        llm.follow()
        return None
    try:
        params = SamplingParams(temperature=0, max_tokens=MAX_NEW)
        return [o.outputs[0].token_ids for o in llm.generate(prompts, params, use_tqdm=False)]
    finally:
        llm.stop()


def test_expert_parallel_over_two_gloo_ranks_equals_one_process(moe_dirs, hf_tokens):
    from grader.runtime.ranks import Ranks

    name = "qwen3_moe_unnormed"  # a dense layer between MoE ones; Mixtral: the CLI test below
    with Ranks(2, timeout_s=120) as ranks:
        got, follower = ranks.run(_generate_on_rank, str(moe_dirs[name]), PROMPTS)
    assert follower is None
    assert got == hf_tokens[name] == _tokens(moe_dirs[name], max_num_seqs=4), "EP W=2 != W=1"


def test_dojo_engine_run_ep_2_gives_the_tokens_of_one_process(
    moe_dirs, hf_tokens, capfd, monkeypatch
):
    from typer.testing import CliRunner

    from grader.cli.app import app

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the ranks: gloo on the CPU, in float32

    path, prompt = moe_dirs["mixtral"], json.dumps(PROMPTS[1])
    run = ["engine", "run", prompt, "--model", str(path), "--max-tokens", str(MAX_NEW), "--json"]
    result = CliRunner().invoke(app, [*run, "--ep", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(capfd.readouterr().out.strip().splitlines()[-1])  # rank 0 wrote to fd 1
    assert data["ep"] == 2 and data["token_ids"] == hf_tokens["mixtral"][1]
    bad = CliRunner().invoke(app, [*run, "--ep", "0"])
    assert bad.exit_code == 2 and "--ep 0: give the number" in bad.output


def test_the_loader_reads_fused_expert_tensors(moe_dirs, hf_tokens, tmp_path):
    """transformers 5's in-memory layout: experts.gate_up_proj (E, 2F, H), down_proj (E, H, F)."""
    path = tmp_path / "fused"
    shutil.copytree(moe_dirs["qwen3_moe"], path)
    tensors, E = load_file(path / "model.safetensors"), 8
    for layer in (0,):  # layer 1 is dense
        pre = f"model.layers.{layer}.mlp.experts"
        w = {k: [tensors.pop(f"{pre}.{e}.{k}.weight") for e in range(E)] for k in PROJS}
        gate_up = [torch.cat([g, u]) for g, u in zip(w["gate_proj"], w["up_proj"])]
        tensors[f"{pre}.gate_up_proj"] = torch.stack(gate_up)  # (E, 2F, H)
        tensors[f"{pre}.down_proj"] = torch.stack(w["down_proj"])  # (E, H, F)
    save_file(tensors, path / "model.safetensors")
    assert _tokens(path, PROMPTS[:3]) == hf_tokens["qwen3_moe"][:3]


PROJS = ("gate_proj", "up_proj", "down_proj")


def test_a_missing_expert_is_named_in_one_line(moe_dirs, tmp_path):
    path = tmp_path / "missing"
    shutil.copytree(moe_dirs["mixtral"], path)
    tensors = load_file(path / "model.safetensors")
    del tensors["model.layers.1.block_sparse_moe.experts.2.w3.weight"]
    save_file(tensors, path / "model.safetensors")
    with pytest.raises(ModelError) as e:
        LLM(str(path), dtype="float32")
    assert "\n" not in str(e.value)
    assert "weights missing for model.layers.1.mlp.experts.2.up_proj (1 in all)" in str(e.value)


def test_expert_parallel_refuses_bad_splits_and_the_communication_free_reference(moe_dirs):
    cfg = ModelConfig.from_dir(moe_dirs["mixtral"])  # 4 experts
    with pytest.raises(ModelError, match="4 experts do not split over 3"):
        build_moe(cfg, load_kernels("auto", "cpu"), 64, SimpleNamespace(rank=0, world=3))
    with pytest.raises(ModelError, match="ep_moe=reference runs every expert in one process"):
        build_moe(cfg, load_kernels({"ep_moe": "reference"}, "cpu"), 64, SimpleNamespace(world=2))
    with pytest.raises(ValueError, match="expert parallelism needs torch.distributed"):
        from engine.dist import EPLLM

        EPLLM(str(moe_dirs["mixtral"]))


def _moe_config(E: int, k: int, norm: bool) -> ModelConfig:
    dense = dict(vocab_size=16, hidden_size=16, intermediate_size=24, num_layers=1, num_heads=2)
    dense |= dict(num_kv_heads=1, head_dim=8, rms_norm_eps=1e-6, rope_theta=1e4, rope_scaling=None)
    dense |= dict(max_position_embeddings=64, tie_word_embeddings=False, qkv_bias=False)
    moe = dict(num_experts=E, top_k=k, moe_intermediate_size=12, norm_topk_prob=norm)
    return ModelConfig("qwen3_moe", qk_norm=True, sparse_layers=(0,), **dense, **moe)


@settings(deadline=None, max_examples=12)
@given(T=st.integers(1, 9), E=st.sampled_from([2, 4, 8]), k=st.integers(1, 3), norm=st.booleans())
def test_the_moe_block_equals_a_per_token_loop(T, E, k, norm):
    k = min(k, E)
    moe = SparseMoE(_moe_config(E, k, norm), load_kernels("auto", "cpu"))
    gen = torch.Generator().manual_seed(T * 100 + E * 10 + k)
    for p in moe.parameters():
        p.data = torch.randn(p.shape, generator=gen) * 0.5
    x = torch.randn(T, 16, generator=gen)  # (T, H)
    probs = torch.softmax(moe.gate(x), dim=-1)  # (T, E)
    want = torch.zeros(T, 16)
    for t in range(T):
        top, ids = probs[t].topk(k)  # (k,) each
        top = top / top.sum() if norm else top
        for w, e in zip(top.tolist(), ids.tolist()):
            want[t] += w * moe.expert(e, x[t : t + 1])[0]
    with torch.no_grad():
        got = moe(x)  # (T, H)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
