"""GPU measurements of speculative decoding and the FP8 KV cache, called by
scripts/gpu_engine_spec.sh: build a random Llama-3.2-1B-shaped bf16 target and a draft made of
its first layers (same embeddings, norm and head), then (1) bs=1 greedy decode plain vs
speculative with each proposer, (2) bf16 against fp8 KV at the same memory budget: pool pages,
peak concurrent sequences and tokens/s on one workload. Each stage writes its own JSON."""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = dict(
    vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
    num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=8192,
    rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=0,
    eos_token_id=1,
)  # fmt: skip
DRAFT_LAYERS = 2
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of a tiny model
PROMPT, NEW, K = 128, 256, 4  # bs=1: prompt tokens, generated tokens, drafts per step


def make(root: Path, init: float) -> None:
    """target/ and draft/ (the target's first DRAFT_LAYERS layers) under root."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = dict(TARGET, initializer_range=init)
    with torch.device(DEVICE):
        target = LlamaForCausalLM(LlamaConfig(**cfg)).to(torch.bfloat16)
        draft = LlamaForCausalLM(LlamaConfig(**{**cfg, "num_hidden_layers": DRAFT_LAYERS}))
    draft = draft.to(torch.bfloat16)
    missing, _ = draft.load_state_dict(target.state_dict(), strict=False)
    assert not missing, missing
    target.save_pretrained(str(root / "target"))
    draft.save_pretrained(str(root / "draft"))
    print(f"saved target ({sum(p.numel() for p in target.parameters()) / 1e9:.2f}B) and draft")


def _params(c: dict) -> int:
    H, inter, L, V = (
        c["hidden_size"],
        c["intermediate_size"],
        c["num_hidden_layers"],
        c["vocab_size"],
    )
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    layer = H * (2 * q + 2 * kv) + 3 * H * inter + 2 * H  # q, o, k, v, MLP, two norms
    return L * layer + V * H * (1 if c["tie_word_embeddings"] else 2) + H


def _sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _free() -> None:
    """After the caller dropped its LLM: give its pool and weights back before the next one."""
    gc.collect()
    torch.cuda.empty_cache()


def decode(llm, prompt: list[int], new: int) -> tuple[list[int], float]:
    from engine import SamplingParams

    sp = SamplingParams(temperature=0, max_tokens=new, ignore_eos=True)
    _sync()
    start = time.perf_counter()
    out = llm.generate([prompt], sp, use_tqdm=False)[0].outputs[0].token_ids
    _sync()
    return out, time.perf_counter() - start


def spec(root: Path, save) -> dict:
    """bs=1 greedy: plain, then each proposer; end-to-end seconds for NEW tokens (prefill
    included, the same for all), tokens/s, acceptance and tokens per verifying step."""
    from engine import LLM

    rng = random.Random(0)
    prompt = [rng.randrange(2, min(TARGET["vocab_size"], 100_000)) for _ in range(PROMPT)]
    common = dict(dtype="bfloat16", max_model_len=2048, max_num_seqs=8, kv_cache_tokens=65536)
    runs = {"plain": None, "draft": {"draft": str(root / "draft"), "num_tokens": K},
            "self_draft": {"layers": DRAFT_LAYERS, "num_tokens": K},
            "ngram": {"ngram": 3, "num_tokens": K}}  # fmt: skip
    result, want = {"prompt": PROMPT, "new_tokens": NEW, "num_tokens": K}, None
    for name, sp in runs.items():
        llm = LLM(str(root / "target"), **common, speculative=sp)
        decode(llm, prompt[:16], 8)  # warm-up (a different prompt: no prefix-cache hit)
        out, seconds = decode(llm, prompt, NEW)
        row = {"seconds": seconds, "tokens_per_s": NEW / seconds}
        if sp:
            row.update(llm.spec.stats(), tokens_identical_to_plain=out == want)
            row["first_difference"] = next(
                (i for i, (a, b) in enumerate(zip(out, want)) if a != b), None
            )
        else:
            want = out
        result[name] = row
        row["kernels"] = llm.kernels.bound
        print(name, {k: row[k] for k in row if k != "kernels"}, flush=True)
        save(result)  # a run cut short by its timeout still reports what it finished
        del llm
        _free()
    for name in ("draft", "self_draft", "ngram"):
        result[name]["speedup_vs_plain"] = result["plain"]["seconds"] / result[name]["seconds"]
    return result


def fp8(root: Path, budget_gb: float, requests: int, save) -> dict:
    """The same KV memory budget for bf16 and fp8 (gpu_memory_utilization set so that bf16's
    pool is about budget_gb): pages, tokens, peak running sequences and output tokens/s on
    `requests` requests of 1024 prompt + 128 output tokens; decode attention on the paged kernel
    for both (the fp8 cache through paged_decode_attention_fp8, which reads the codes)."""
    from engine import SamplingParams

    rng = random.Random(1)
    work = [
        [rng.randrange(2, min(TARGET["vocab_size"], 100_000)) for _ in range(1024)]
        for _ in range(requests)
    ]
    sp = SamplingParams(temperature=0, max_tokens=128, ignore_eos=True)
    free, total = torch.cuda.mem_get_info()
    weights = 2 * _params(TARGET)  # bf16 bytes, loaded before the pool is sized
    # pages_for_memory: budget = 0.8 * (free - (1 - u) * total) = budget_gb
    util = 1 - ((free - weights) - budget_gb * 1e9 / 0.8) / total
    result = {"gpu_memory_utilization": util, "requests": requests, "prompt": 1024, "output": 128}
    for name, kw in (("bf16", {}), ("fp8", {"kv_cache_dtype": "fp8"})):
        result[name] = _fp8_run(root, work, sp, util, kw)  # its LLM is gone when it returns
        _free()  # so the next pool is sized from the same free memory
        print(name, result[name], flush=True)
        save(result)
    for key in ("pool_tokens", "peak_running", "output_tokens_per_s"):
        result[f"fp8_over_bf16_{key}"] = result["fp8"][key] / result["bf16"][key]
    return result


def _fp8_run(root: Path, work, sp, util: float, kw: dict) -> dict:
    from engine import LLM, SamplingParams

    llm = LLM(str(root / "target"), dtype="bfloat16", max_model_len=2048, max_num_seqs=512,
              gpu_memory_utilization=util, **kw)  # fmt: skip
    peak, schedule = [0], llm.scheduler.schedule

    def counted():
        batch = schedule()
        peak[0] = max(peak[0], len(llm.scheduler.running))
        return batch

    llm.scheduler.schedule = counted
    llm.generate([work[0][:32]], SamplingParams(max_tokens=4), use_tqdm=False)  # warm-up
    _sync()
    start = time.perf_counter()
    outs = llm.generate(work, sp, use_tqdm=False)
    _sync()
    seconds = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    S = llm.config.block_size
    row = {
        "pool_pages": llm.pages.total, "pool_tokens": llm.pages.total * S,
        "pool_gb": llm.pool.nbytes() / 1e9,
        "max_sequences_of_1152_tokens": llm.pages.total // -(-1152 // S),
        "peak_running": peak[0], "preemptions": llm.scheduler.preemptions,
        "seconds": seconds, "output_tokens_per_s": tokens / seconds,
        "decode_attention": llm.kernels.bound.get("paged_attention"),
        "cuda_graphs": llm.runner.graphs is not None,
    }  # fmt: skip
    llm.scheduler.schedule = schedule  # break the cycle llm -> scheduler -> counted -> llm
    return row


def merge(out: Path) -> None:
    def load(name: str):
        try:
            return json.loads((out / name).read_text())
        except (OSError, ValueError) as e:
            return {"missing": f"{name}: {e}"}

    def lines(name: str) -> list[str]:
        p = out / name
        return p.read_text().strip().splitlines() if p.exists() else []

    result = {
        "env": lines("env.txt"),
        "pytest_spec_fp8": lines("pytest_spec_fp8.txt")[-3:],
        "model": {**TARGET, "draft_layers": DRAFT_LAYERS, "weights": "random, bf16"},
        "speculative_bs1": load("spec.json"),
        "fp8_kv": load("fp8.json"),
    }
    (out / "h200_engine_spec.json").write_text(json.dumps(result, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "spec", "fp8", "merge"])
    ap.add_argument("path", type=Path)  # models root, or OUT for merge
    ap.add_argument("--out", type=Path)
    ap.add_argument("--init", type=float, default=0.02)
    ap.add_argument("--budget-gb", type=float, default=4.0)
    ap.add_argument("--requests", type=int, default=256)
    args = ap.parse_args()
    if args.cmd == "merge":
        return merge(args.path)
    if args.cmd == "make":
        return make(args.path, args.init)

    def save(result: dict) -> None:
        args.out.write_text(json.dumps(result, indent=1))

    if args.cmd == "spec":
        save(spec(args.path, save))
    else:
        save(fp8(args.path, args.budget_gb, args.requests, save))


if __name__ == "__main__":
    main()
