"""Decode steps through engine/graphs.py: static buffers filled per step, one capture per batch
bucket, padding rows confined to the scratch page. On a CPU the "graph" re-runs the captured
forward on the same static buffers into the same output (EagerReplay), which tests everything
but CUDA's recording; the gpu-marked test at the end replays real CUDA graphs."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from engine import LLM, SamplingParams
from engine.graphs import CaptureFailed, CudaGraph, DecodeGraphs


class EagerReplay:
    """A stand-in for CudaGraph: replay() recomputes the captured forward into its output."""

    log: list[str] = []

    def __init__(self, mempool) -> None:
        assert mempool is None

    @staticmethod
    def new_pool():
        return None

    def capture(self, forward) -> torch.Tensor:
        self.forward, self.out = forward, forward()
        EagerReplay.log.append("capture")
        return self.out

    def replay(self) -> None:
        self.out.copy_(self.forward())
        EagerReplay.log.append("replay")


def _llm(path: str, graphs: bool, monkeypatch, **kw) -> LLM:
    if graphs:
        monkeypatch.setattr(LLM, "_decode_graph_type", lambda self, device: EagerReplay)
    else:
        monkeypatch.setattr(LLM, "_decode_graph_type", lambda self, device: None)
    kw = dict(dtype="float32", block_size=4, max_num_seqs=6, **kw)
    return LLM(path, kernels={"paged_attention": "solution"}, **kw)


@pytest.mark.parametrize("kv_cache_dtype", ["auto", "fp8"])
def test_decode_through_graphs_equals_eager_decode(tiny_dirs, monkeypatch, kv_cache_dtype):
    """Five prompts (two sharing a prefix) stop one after another: batches of 5, 4, 3, 2, 1
    run in buckets 6, 4, 4, 2, 1 with padding. Same tokens, every real page the same, the
    padding's K/V only in the scratch page, and one capture per bucket."""
    path, kw = str(tiny_dirs["qwen3"]), dict(kv_cache_dtype=kv_cache_dtype)
    prompts = [[5, 6, 7, 8, 9], [5, 6, 7, 8, 1, 2], list(range(20, 33)), [100, 7] * 3, [3]]
    params = [
        SamplingParams(temperature=0, max_tokens=n, ignore_eos=True) for n in (3, 5, 7, 9, 11)
    ]
    runs = {}
    for graphs in (False, True):
        EagerReplay.log.clear()
        llm = _llm(path, graphs, monkeypatch, **kw)
        out = llm.generate(prompts, params, use_tqdm=False)
        runs[graphs] = llm, [o.outputs[0].token_ids for o in out]
    (eager, want), (graphed, got) = runs[False], runs[True]
    assert got == want
    assert EagerReplay.log.count("capture") == 4 and EagerReplay.log.count("replay") >= 10
    assert sorted(graphed.runner.graphs.graphs) == [1, 2, 4, 6]
    scratch = graphed.runner.graphs.scratch
    assert scratch == graphed.pages.total == eager.pool.k.shape[1]  # a page nobody is given
    for a, b in ((eager.pool.k, graphed.pool.k), (eager.pool.v, graphed.pool.v)):
        torch.testing.assert_close(b[:, :scratch].float(), a.float(), rtol=0, atol=1e-5)
        assert b[:, scratch].float().abs().sum() > 0  # the padding rows wrote there


class SyncsWithTheHost(EagerReplay):
    """A stand-in for a capture that CUDA refuses: the warm-up runs, the recording fails."""

    def capture(self, forward) -> torch.Tensor:
        forward()
        raise CaptureFailed("operation not permitted when stream is capturing")


def test_a_step_that_cannot_be_captured_decodes_eagerly_with_one_note(
    tiny_dirs, monkeypatch, capfd
):
    path = str(tiny_dirs["qwen3"])
    prompts, params = [[5, 6, 7], [9] * 6], SamplingParams(temperature=0, max_tokens=6)
    want = [
        o.outputs[0].token_ids
        for o in _llm(path, False, monkeypatch).generate(prompts, params, use_tqdm=False)
    ]
    monkeypatch.setattr(LLM, "_decode_graph_type", lambda self, device: SyncsWithTheHost)
    llm = LLM(
        path, kernels={"paged_attention": "solution"}, dtype="float32", block_size=4, max_num_seqs=6
    )
    got = [o.outputs[0].token_ids for o in llm.generate(prompts, params, use_tqdm=False)]
    assert got == want and llm.runner.graphs is None
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note: decoding without CUDA graphs"), err
    assert "operation not permitted when stream is capturing" in err[0]


def test_buckets_cover_every_batch_up_to_max_num_seqs():
    for max_seqs, want in [(1, [1]), (5, [1, 2, 4, 5]), (40, [1, 2, 4, 8, 16, 32, 40])]:
        g = DecodeGraphs(None, [], 1.0, 16, 64, max_seqs, 0, "cpu", EagerReplay)
        assert g.buckets == want and g.fits(max_seqs) and not g.fits(max_seqs + 1)
    g = DecodeGraphs(None, [], 1.0, 16, 64, 256, 0, "cpu", EagerReplay)
    assert g.buckets[:5] == [1, 2, 4, 8, 16] and g.buckets[-2:] == [240, 256]
    assert g.tables.shape == (256, 4)  # ceil(64 / 16) pages per sequence at most


def _wants(device="cuda", fp8=False, eager=False, spec=None, ep=None, experts=0, kernels=True):
    kernel = object() if kernels else None
    fake = SimpleNamespace(
        config=SimpleNamespace(
            kv_cache_dtype="fp8" if fp8 else "auto", enforce_eager=eager, speculative=spec
        ),
        kernels=SimpleNamespace(paged_decode_attention=kernel, paged_decode_attention_fp8=None),
        model_config=SimpleNamespace(num_experts=experts),
        ep=ep,
    )
    return LLM._decode_graph_type(fake, torch.device(device))


def test_graphs_only_where_a_decode_step_can_be_captured():
    assert _wants() is CudaGraph
    assert _wants(device="cpu") is None
    assert _wants(eager=True) is None
    assert _wants(kernels=False) is None  # gather + SDPA: data-dependent shapes
    assert _wants(fp8=True) is None  # no fp8 kernel bound in this fake
    assert _wants(experts=8) is None and _wants(ep=object()) is None
    assert _wants(spec={"ngram": 2, "num_tokens": 2}) is None


@pytest.mark.gpu
@pytest.mark.parametrize("kv_cache_dtype", ["auto", "fp8"])
def test_cuda_graphs_decode_like_eager_mode(tiny_dirs, kv_cache_dtype, record_property):
    """On a GPU, by default: decode steps are captured and replayed, with the same greedy
    tokens as enforce_eager; the time per output token of both is recorded."""
    import time

    path = str(tiny_dirs["qwen3"])
    kw = dict(dtype="float32", block_size=16, max_num_seqs=8, kv_cache_dtype=kv_cache_dtype)
    prompts = [[5, 6, 7], list(range(20, 40)), [100, 7] * 3]
    params = SamplingParams(temperature=0, max_tokens=64, ignore_eos=True)
    tokens, seconds = {}, {}
    for eager in (True, False):
        llm = LLM(path, enforce_eager=eager, **kw)
        assert (llm.runner.graphs is None) == eager
        llm.generate(prompts, params, use_tqdm=False)  # warm-up: compiles, captures
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = llm.generate(prompts, params, use_tqdm=False)
        seconds[eager] = (time.perf_counter() - t0) / (64 * len(prompts))
        assert eager or llm.runner.graphs is not None, "a decode step could not be captured"
        tokens[eager] = [o.outputs[0].token_ids for o in out]
    assert tokens[False] == tokens[True]
    record_property("ms_per_token_eager", 1e3 * seconds[True])
    record_property("ms_per_token_graphs", 1e3 * seconds[False])
    print(f"ms per token: eager {1e3 * seconds[True]:.3f}, graphs {1e3 * seconds[False]:.3f}")


@pytest.mark.gpu
def test_a_kernel_that_syncs_falls_back_to_eager_and_leaves_the_process_healthy(tiny_dirs, capfd):
    """A real failed capture (an rms_norm whose wrapper calls .item()): eager decoding with one
    note, the same tokens, and the CUDA generator usable afterwards (a failed capture leaves it
    "capturing": every later random op would fail)."""
    from engine.ops import load_kernels

    path, kw = str(tiny_dirs["qwen3"]), dict(dtype="float32", block_size=16, max_num_seqs=4)
    prompts, params = [[5, 6, 7], [9] * 6], SamplingParams(temperature=0, max_tokens=6)
    want = [o.outputs[0].token_ids for o in LLM(path, **kw).generate(prompts, params)]
    base = load_kernels("auto", "cuda")

    def syncing_rms_norm(x, w, eps=1e-6):
        assert x.abs().max().item() >= 0  # a host sync: not capturable
        return base.rms_norm(x, w, eps)

    llm = LLM(path, kernels=replace(base, rms_norm=syncing_rms_norm), **kw)
    got = [o.outputs[0].token_ids for o in llm.generate(prompts, params, use_tqdm=False)]
    assert got == want and llm.runner.graphs is None
    assert "note: decoding without CUDA graphs" in capfd.readouterr().err
    torch.randn(8, device="cuda")  # raised "Offset increment outside graph capture" before
    sampled = SamplingParams(temperature=1.0, max_tokens=4, ignore_eos=True)  # default generator
    assert len(llm.generate([[5, 6]], sampled, use_tqdm=False)[0].outputs[0].token_ids) == 4
