"""Expert parallelism measured, called by scripts/gpu_engine_moe.sh: write a random bf16
Qwen3-MoE checkpoint with Qwen3-30B-A3B's layer shape (fewer layers, experts saved one tensor
each as the hub lays them out), then the same seeded offline workload through the plain engine
on one GPU (w1) and through EPLLM under torchrun (ep: W ranks, NCCL), the latter a second time
with every all_to_all_single / all_gather / broadcast_object_list timed between
synchronisations, for the share of the run spent communicating. `merge` writes the summary.
--tiny: a small model for a CPU dry run (gloo)."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QWEN3_30B_A3B = dict(  # per-layer shape of Qwen/Qwen3-30B-A3B; 8 of its 48 layers
    vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=8,
    num_attention_heads=32, num_key_value_heads=4, head_dim=128, num_experts=128,
    num_experts_per_tok=8, moe_intermediate_size=768, norm_topk_prob=True,
)  # fmt: skip
TINY = dict(
    vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=8,
    num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True,
)  # fmt: skip
WORKLOAD = dict(num_requests=128, min_prompt=64, max_prompt=512, output=128, seed=0)
TINY_WORKLOAD = dict(num_requests=8, min_prompt=4, max_prompt=24, output=8, seed=0)
SHOWN = 4  # requests whose tokens are kept, to compare W=1 and W=2
COLLECTIVES = ("all_to_all_single", "all_gather", "broadcast_object_list")


def make(path: Path, shape: dict) -> None:
    """Random weights (std 0.02, norms 1) in one safetensors file per layer."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    cfg = dict(shape, architectures=["Qwen3MoeForCausalLM"], model_type="qwen3_moe")
    cfg |= dict(hidden_act="silu", max_position_embeddings=40960, rope_theta=1e6)
    cfg |= dict(rms_norm_eps=1e-6, tie_word_embeddings=False, decoder_sparse_step=1)
    cfg |= dict(mlp_only_layers=[], eos_token_id=0, torch_dtype="bfloat16")
    (path / "config.json").write_text(json.dumps(cfg, indent=1))
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(dev).manual_seed(0)

    def rand(*size: int) -> torch.Tensor:
        return (torch.randn(size, generator=gen, device=dev) * 0.02).to(torch.bfloat16).cpu()

    V, H, D = shape["vocab_size"], shape["hidden_size"], shape["head_dim"]
    Hq, Hkv, E, F = (shape[k] for k in ("num_attention_heads", "num_key_value_heads",
                                         "num_experts", "moe_intermediate_size"))  # fmt: skip
    ones = lambda n: torch.ones(n, dtype=torch.bfloat16)
    top = {"model.embed_tokens.weight": rand(V, H), "lm_head.weight": rand(V, H)}
    save_file({**top, "model.norm.weight": ones(H)}, str(path / "model-top.safetensors"))
    for i in range(shape["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t = {p + "input_layernorm.weight": ones(H), p + "post_attention_layernorm.weight": ones(H)}
        t |= {
            p + "self_attn.q_proj.weight": rand(Hq * D, H),
            p + "self_attn.o_proj.weight": rand(H, Hq * D),
        }
        t |= {
            p + "self_attn.k_proj.weight": rand(Hkv * D, H),
            p + "self_attn.v_proj.weight": rand(Hkv * D, H),
        }
        t |= {p + "self_attn.q_norm.weight": ones(D), p + "self_attn.k_norm.weight": ones(D)}
        t[p + "mlp.gate.weight"] = rand(E, H)
        for e in range(E):
            q = f"{p}mlp.experts.{e}."
            t |= {q + "gate_proj.weight": rand(F, H), q + "up_proj.weight": rand(F, H)}
            t[q + "down_proj.weight"] = rand(H, F)
        save_file(t, str(path / f"model-{i:03d}.safetensors"))
    print(f"wrote a random {shape['num_hidden_layers']}-layer Qwen3-MoE to {path}", flush=True)


def requests(vocab: int, w: dict) -> list[list[int]]:
    rng = random.Random(w["seed"])
    lens = [rng.randint(w["min_prompt"], w["max_prompt"]) for _ in range(w["num_requests"])]
    return [[rng.randrange(min(vocab, 10_000)) for _ in range(n)] for n in lens]


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_generate(llm, prompts: list[list[int]], output: int) -> dict:
    from engine import SamplingParams

    steps, step = [0], llm.step

    def counted():
        steps[0] += 1
        return step()

    llm.step = counted  # generate calls self.step: count the engine steps
    params = SamplingParams(temperature=0, ignore_eos=True, max_tokens=output)
    _sync()
    start = time.perf_counter()
    outs = llm.generate(prompts, params, use_tqdm=False)
    _sync()
    seconds = time.perf_counter() - start
    llm.step = step
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    return {
        "seconds": seconds,
        "steps": steps[0],
        "ms_per_step": 1e3 * seconds / steps[0],
        "prompt_tokens": sum(map(len, prompts)),
        "output_tokens": tokens,
        "output_tokens_per_s": tokens / seconds,
        "first_outputs": [o.outputs[0].token_ids for o in outs[:SHOWN]],
    }


class CommTimer:
    """Wraps torch.distributed's collectives: each call waits for the GPU before and after,
    so the time between is the collective's own (including waiting for the other ranks)."""

    def __init__(self) -> None:
        self.seconds, self.calls = defaultdict(float), defaultdict(int)

    def install(self) -> None:
        import torch.distributed as dist

        for name in COLLECTIVES:
            setattr(dist, name, self._wrap(name, getattr(dist, name)))

    def _wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            _sync()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync()
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1
            return out

        return timed


def _engine_kwargs(a: argparse.Namespace, device: str) -> dict:
    w = TINY_WORKLOAD if a.tiny else WORKLOAD
    need = w["max_prompt"] + w["output"] + 16
    kv = w["num_requests"] * need
    dtype = "float32" if a.tiny else "bfloat16"
    return dict(device=device, dtype=dtype, max_model_len=need, kv_cache_tokens=kv)


def run_w1(a: argparse.Namespace) -> None:
    from engine import LLM

    w = TINY_WORKLOAD if a.tiny else WORKLOAD
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    llm = LLM(a.model, **_engine_kwargs(a, device))
    prompts = requests(llm.model_config.vocab_size, w)
    timed_generate(llm, prompts[:8], 4)  # warm-up
    result = {"mode": "w1", "kernels": llm.kernels.bound, "workload": w}
    result["throughput"] = timed_generate(llm, prompts, w["output"])
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result["throughput"].items() if k != "first_outputs"}))


def run_ep(a: argparse.Namespace) -> None:
    import torch.distributed as dist

    from engine.dist import EPLLM, init_from_env

    w = TINY_WORKLOAD if a.tiny else WORKLOAD
    device = init_from_env()
    llm = EPLLM(a.model, **_engine_kwargs(a, str(device)))
    prompts = requests(llm.model_config.vocab_size, w)
    timer, result = CommTimer(), {"mode": "ep", "world": llm.ep.world, "workload": w}
    phases = [("warmup", prompts[:8], 4), ("throughput", prompts, w["output"])]
    phases.append(("profiled", prompts, w["output"]))
    for phase, batch, output in phases:
        if phase == "profiled":
            timer.install()  # on every rank, after the unprofiled run
        if llm.ep.rank:
            llm.follow()
            continue
        try:
            result[phase] = timed_generate(llm, batch, output)
        finally:
            llm.stop()
    per_rank = [None] * llm.ep.world
    dist.all_gather_object(per_rank, {"seconds": timer.seconds, "calls": timer.calls})
    if llm.ep.rank == 0:
        result["kernels"] = llm.kernels.bound
        result["collectives_per_rank"] = per_rank
        Path(a.out).write_text(json.dumps(result, indent=1))
        print(json.dumps({k: v for k, v in result["throughput"].items() if k != "first_outputs"}))
    dist.destroy_process_group()


def _agreement(a: list[list[int]], b: list[list[int]]) -> list[int]:
    """Per request: how many leading tokens the two runs share."""
    return [next((i for i, (x, y) in enumerate(zip(p, q)) if x != y), len(p)) for p, q in zip(a, b)]


def merge(out_dir: Path, shape: dict) -> dict:
    runs = {}
    for name in ("w1", "ep2", "ep1"):
        if (out_dir / f"{name}.json").is_file():
            runs[name] = json.loads((out_dir / f"{name}.json").read_text())
    summary = {"model": {"shape": shape, "dtype": "bfloat16", "random_weights": True}}
    summary["workload"] = next((r["workload"] for r in runs.values()), None)
    for name, r in runs.items():
        summary[name] = {k: v for k, v in r.items() if k not in ("warmup", "workload")}
    tps = {n: r["throughput"]["output_tokens_per_s"] for n, r in runs.items() if "throughput" in r}
    if "w1" in tps:
        summary["tokens_per_s_vs_w1"] = {n: v / tps["w1"] for n, v in tps.items()}
    for name in ("ep2", "ep1"):
        r = runs.get(name, {})
        if "profiled" in r and r.get("collectives_per_rank"):
            secs = r["profiled"]["seconds"]
            summary[f"{name}_comm_share_of_run"] = [
                {c: s["seconds"].get(c, 0.0) / secs for c in COLLECTIVES}
                for s in r["collectives_per_rank"]
            ]  # rank by rank; the profiled run's wall time measured on rank 0
            share = summary[f"{name}_comm_share_of_run"][0]["all_to_all_single"]
            summary[f"{name}_all_to_all_share_rank0"] = share
        if "w1" in runs and "throughput" in r:
            want = runs["w1"]["throughput"]["first_outputs"]
            got = r["throughput"]["first_outputs"]
            summary[f"{name}_leading_tokens_equal_to_w1"] = _agreement(want, got)
    path = out_dir / "h200x2_engine_moe.json"
    path.write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cmd", choices=["make", "w1", "ep", "merge"])
    ap.add_argument("model", help="the checkpoint directory (merge: the output directory)")
    ap.add_argument("out", nargs="?", help="the JSON file to write (w1, ep)")
    ap.add_argument("--tiny", action="store_true", help="a small model, for a CPU dry run")
    a = ap.parse_args()
    shape = TINY if a.tiny else QWEN3_30B_A3B
    if a.cmd == "make":
        make(Path(a.model), shape)
    elif a.cmd == "w1":
        run_w1(a)
    elif a.cmd == "ep":
        run_ep(a)
    else:
        summary = merge(Path(a.model), shape)
        print(json.dumps({k: v for k, v in summary.items() if k.startswith(("tokens", "ep2_"))}))


if __name__ == "__main__":
    main()
