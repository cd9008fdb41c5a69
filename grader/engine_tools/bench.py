"""`dojo engine bench`: offline throughput on the nano-vllm workload (requests with input and
output lengths uniform in [lo, hi], seeded), the same requests through Hugging Face generate
(batched, left-padded) on the same weights, and bs=1 decode against the HBM roofline."""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.llm import LLM
from engine.sampler import SamplingParams

BS1_PROMPT = 128  # prompt tokens of the bs=1 decode request


@dataclass(frozen=True, slots=True)
class Workload:
    num_requests: int = 256
    min_len: int = 100
    max_len: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len or self.num_requests < 1:
            raise ValueError("need num_requests >= 1 and 1 <= min_len <= max_len")

    def requests(self, vocab: int) -> list[tuple[list[int], int]]:
        """(prompt token ids, output length) for each request, random token ids like nano-vllm."""
        rng = random.Random(self.seed)
        lens = [
            (rng.randint(self.min_len, self.max_len), rng.randint(self.min_len, self.max_len))
            for _ in range(self.num_requests)
        ]
        return [([rng.randrange(min(vocab, 10_000)) for _ in range(i)], o) for i, o in lens]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe(llm: LLM) -> dict:
    """Where and how the engine ran: device, dtype, the kernel of each op, CUDA graphs."""
    device = llm.config.torch_device()
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(llm.config.torch_dtype()).removeprefix("torch."),
        "kernels": llm.kernels.bound,
        "cuda_graphs": llm.runner.graphs is not None,  # decode steps replayed (engine/graphs.py)
    }


def release(device: torch.device) -> None:
    """Give back the memory of an engine the caller has dropped (`del llm`) to the next model."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def engine_throughput(llm: LLM, work: list[tuple[list[int], int]]) -> dict:
    params = [SamplingParams(temperature=0, ignore_eos=True, max_tokens=o) for _, o in work]
    llm.generate([[1, 2, 3]], SamplingParams(max_tokens=4), use_tqdm=False)  # warm-up
    sync(llm.config.torch_device())
    start = time.perf_counter()
    outs = llm.generate([p for p, _ in work], params, use_tqdm=False)
    sync(llm.config.torch_device())
    seconds = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    assert tokens == sum(o for _, o in work), "ignore_eos requests stopped early"
    return {"seconds": seconds, "output_tokens": tokens, "output_tokens_per_s": tokens / seconds}


def hf_throughput(model_dir: str, work, batch_size: int, dtype, device) -> dict:
    """HF generate over batches in workload order; a batch runs to its longest output, and
    only the tokens each request asked for are counted."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    seconds = 0.0
    for i in range(0, len(work), batch_size):
        chunk = work[i : i + batch_size]
        width = max(len(p) for p, _ in chunk)
        ids = torch.tensor([[0] * (width - len(p)) + p for p, _ in chunk], device=device)
        mask = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p, _ in chunk], device=device
        )
        new = max(o for _, o in chunk)
        sync(device)
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                pad_token_id=0,
            )
        sync(device)
        seconds += time.perf_counter() - start
    tokens = sum(o for _, o in work)
    del model
    return {
        "seconds": seconds,
        "output_tokens": tokens,
        "output_tokens_per_s": tokens / seconds,
        "batch_size": batch_size,
    }


def decode_bs1(llm: LLM, prompt_len: int, new_tokens: int, copy_bandwidth: float | None) -> dict:
    """Decode tokens/s of one request: its new_tokens - 1 decode steps over the time from its
    first token to its last (each step ends in a host copy of its token, so the clock reads
    finished work), best of two runs; and the bytes each decode step must read (weights + K/V
    so far) against the copy bandwidth."""
    rng = random.Random(1)
    vocab = llm.model_config.vocab_size

    def measured(n: int) -> float:
        prompt = [rng.randrange(vocab) for _ in range(prompt_len)]  # fresh: no prefix hit
        params = SamplingParams(temperature=0, ignore_eos=True, max_tokens=n)
        when: dict[int, float] = {}  # tokens so far -> when the step that made them returned
        for out in llm.stream(prompt, params):
            when.setdefault(len(out.outputs[0].token_ids), time.perf_counter())
        first, last = min(when), max(when)
        return (last - first) / (when[last] - when[first])

    measured(4)  # warm-up
    rate = max(measured(new_tokens), measured(new_tokens))
    mc, size = llm.model_config, llm.config.torch_dtype().itemsize
    weights = sum(p.numel() for p in llm.model.parameters()) * size
    if not mc.tie_word_embeddings:  # the embedding table is looked up, not read whole
        weights -= llm.model.model.embed_tokens.weight.numel() * size
    kv = mc.kv_bytes_per_token * size * (prompt_len + new_tokens / 2)  # mean context read
    out = {"tokens_per_s": rate, "ms_per_token": 1e3 / rate, "bytes_per_token": weights + kv}
    out |= {"weight_bytes": weights, "kv_bytes": kv, "prompt_len": prompt_len}
    out["new_tokens"] = new_tokens
    if copy_bandwidth:
        out["copy_bandwidth_gbs"] = copy_bandwidth / 1e9
        out["roofline_fraction"] = (weights + kv) * rate / copy_bandwidth
    return out


def run_bench(
    model_dir: str,
    workload: Workload,
    hf: bool = True,
    hf_batch_size: int = 256,
    bs1_tokens: int = 256,
    copy_bandwidth: Callable[[], float] | None = None,
    **llm_kwargs,
) -> dict:
    """Engine, then bs=1 decode, then HF (the engine's KV pool freed first); one dict."""
    if bs1_tokens < 2:
        raise ValueError(f"--bs1-tokens {bs1_tokens}: a decode rate needs at least 2 tokens")
    need = max(2 * workload.max_len, BS1_PROMPT + bs1_tokens) + 16
    llm = LLM(model_dir, **{"max_model_len": need, **llm_kwargs})
    device, dtype = llm.config.torch_device(), llm.config.torch_dtype()
    work = workload.requests(llm.model_config.vocab_size)
    result = {
        **describe(llm),
        "workload": {
            "kind": "nano-vllm",
            "num_requests": workload.num_requests,
            "min_len": workload.min_len,
            "max_len": workload.max_len,
            "seed": workload.seed,
        },
    }
    result["engine"] = engine_throughput(llm, work)
    result["engine"]["preemptions"] = llm.scheduler.preemptions
    bandwidth = copy_bandwidth() if copy_bandwidth and device.type == "cuda" else None
    result["bs1_decode"] = decode_bs1(llm, BS1_PROMPT, bs1_tokens, bandwidth)
    del llm
    release(device)
    if hf:
        result["hf"] = hf_throughput(model_dir, work, hf_batch_size, dtype, device)
        result["speedup_vs_hf"] = (
            result["engine"]["output_tokens_per_s"] / result["hf"]["output_tokens_per_s"]
        )
    return result
