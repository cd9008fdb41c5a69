"""GPU checks of the engine, called by scripts/gpu_engine.sh: build random-weight Qwen3-0.6B-
and Llama-3-8B-shaped checkpoints (no network), judge bf16 token agreement with HF generate
the way vLLM compares log-probs (tokens agree, or at the first disagreement each token is in
the other's top-5; the comparison stops there), and merge the stages' JSON into one file.
--tiny: small shapes on whatever device there is, for a CPU dry run of the script."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.engine_tools.random_model import LLAMA3_8B, TINY_LLAMA, write_random_llama  # noqa: E402

TOP = 5
QWEN3_06B = dict(
    vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
    num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
    rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, eos_token_id=151645,
)  # fmt: skip
TINY_QWEN3 = dict(
    QWEN3_06B, vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=16, eos_token_id=1,
)  # fmt: skip
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# stage file under $OUT -> its key in h200_engine.json
STAGES = {
    "agreement_qwen3.json": "agreement_qwen3_0.6b_random",
    "agreement_smollm2.json": "agreement_smollm2",
    "chat_qwen3.json": "chat_qwen3_0.6b_random",
    "chat_qwen3_fp32.json": "chat_qwen3_0.6b_random_fp32",
    "bench_qwen3.json": "bench_qwen3_0.6b_random",
    "bs1_llama8b.json": "bs1_llama3_8b_random",
}


def make_qwen3(path: Path, tiny: bool) -> None:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = Qwen3ForCausalLM(Qwen3Config(**(TINY_QWEN3 if tiny else QWEN3_06B)))
    model.to(torch.bfloat16).save_pretrained(str(path))
    print(f"saved a random Qwen3-0.6B-shaped{' (tiny)' if tiny else ''} model to {path}")


def make_llama8b(path: Path, tiny: bool) -> None:
    """A random bf16 Llama-3-8B-shaped checkpoint, drawn on the GPU (when there is one)."""
    made = write_random_llama(path, TINY_LLAMA if tiny else LLAMA3_8B, DEVICE)
    print(
        f"saved a random Llama-3-8B-shaped{' (tiny)' if tiny else ''} model to {path}: "
        f"{made['params'] / 1e9:.2f}B parameters, {made['shards']} shards, {made['seconds']:.1f} s"
    )


def _prompts(model_dir: Path, vocab: int) -> list[list[int]]:
    tok_file = model_dir / "tokenizer.json"
    if tok_file.is_file():  # a real model: real text
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(model_dir))
        texts = [
            "The capital of France is",
            "def quicksort(xs):",
            "Once upon a time,",
            "The three laws of thermodynamics are",
            "RMSNorm differs from LayerNorm in",
            "1, 1, 2, 3, 5, 8,",
            "Translate to French: good morning",
            "Q: What is 17*23?",
        ]
        return [tok(t).input_ids for t in texts]
    rng = random.Random(0)
    return [[rng.randrange(vocab) for _ in range(n)] for n in (7, 16, 50, 100, 200, 333, 512, 1000)]


def hf_steps(model_dir: Path, prompts, max_tokens: int) -> list[list[tuple[int, dict]]]:
    """Greedy HF generate in bf16, one prompt at a time: per step (token, top-5 log-probs of
    the raw logits); like the engine, it stops at EOS."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16).to(DEVICE)
    out = []
    for p in prompts:
        ids = torch.tensor([p], device=DEVICE)
        with torch.inference_mode():
            g = model.generate(
                ids,
                max_new_tokens=max_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
            )
        steps = []
        for tok, logits in zip(g.sequences[0, len(p) :].tolist(), g.logits):
            lp = torch.log_softmax(logits[0].float(), dim=-1)
            v, i = lp.topk(TOP)
            steps.append((tok, dict(zip(i.tolist(), v.tolist()))))
        out.append(steps)
    del model
    torch.cuda.empty_cache()
    return out


def engine_steps(model_dir: Path, prompts, max_tokens: int) -> list[list[tuple[int, dict]]]:
    from engine import LLM, SamplingParams

    llm = LLM(str(model_dir), dtype="bfloat16", max_model_len=2048)
    sp = SamplingParams(temperature=0, max_tokens=max_tokens, logprobs=TOP)  # both stop at EOS
    outs = llm.generate(prompts, sp, use_tqdm=False)
    kernels = llm.kernels.bound
    del llm
    torch.cuda.empty_cache()
    steps = [list(zip(o.outputs[0].token_ids, (t for _, t in o.outputs[0].logprobs))) for o in outs]
    return steps, kernels


def compare(engine, hf) -> dict:
    """Per prompt: tokens agreeing before the first disagreement, and whether that
    disagreement is a near-tie (each token in the other's top-5). A run that stopped (EOS)
    where the other went on is compared up to the shorter one."""
    rows = []
    for e, h in zip(engine, hf):
        row = {"steps": len(h), "agreed": len(h), "ok": True, "max_abs_logprob_diff": 0.0}
        for i, ((te, tope), (th, toph)) in enumerate(zip(e, h)):
            if te == th:
                if te in toph:
                    diff = abs(tope[te] - toph[te])
                    row["max_abs_logprob_diff"] = max(row["max_abs_logprob_diff"], diff)
                continue
            row.update(
                agreed=i,
                ok=te in toph and th in tope,
                engine={"token": te, "top5": tope},
                hf={"token": th, "top5": toph},
            )
            break
        rows.append(row)
    return {"passed": all(r["ok"] for r in rows), "prompts": rows}


def agreement(model_dir: Path, max_tokens: int) -> dict:
    cfg = json.loads((model_dir / "config.json").read_text())
    prompts = _prompts(model_dir, cfg["vocab_size"])
    engine, kernels = engine_steps(model_dir, prompts, max_tokens)
    result = compare(engine, hf_steps(model_dir, prompts, max_tokens))
    return {"model": str(model_dir), "dtype": "bfloat16", "max_tokens": max_tokens,
            "device": DEVICE, "kernels": kernels, **result}  # fmt: skip


def merge(out: Path, into: Path | None) -> None:
    """Gather what the stages wrote under out into out/h200_engine.json (run after each); with
    into, update that file with the stages found under out instead (a run of other stages)."""

    def load(name: str):
        try:
            return json.loads((out / name).read_text())
        except (OSError, ValueError) as e:
            return {"missing": f"{name}: {e}"}

    def lines(name: str) -> list[str]:
        p = out / name
        return p.read_text().strip().splitlines() if p.exists() else []

    result = {"env": lines("env.txt"), "pytest_engine": lines("pytest_engine.txt")[-1:]}
    result |= {key: load(name) for name, key in STAGES.items()}
    if into is None:
        (out / "h200_engine.json").write_text(json.dumps(result, indent=1))
        return
    old = json.loads(into.read_text()) if into.exists() else {}
    found = {k: v for k, v in result.items() if v and "missing" not in v}
    into.write_text(json.dumps(old | found, indent=1))
    print(f"{into}: updated {', '.join(found) or 'nothing'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("make-qwen3", "make-llama8b"):
        make = sub.add_parser(name)
        make.add_argument("path", type=Path)
        make.add_argument("--tiny", action="store_true", help="a small shape, for a dry run")
    agree = sub.add_parser("agreement")
    agree.add_argument("model", type=Path)
    agree.add_argument("out", type=Path)
    agree.add_argument("--max-tokens", type=int, default=64)
    merging = sub.add_parser("merge")
    merging.add_argument("out", type=Path)
    merging.add_argument("--into", type=Path, help="a JSON file to update with these stages")
    args = ap.parse_args()
    if args.cmd == "merge":
        return merge(args.out, args.into)
    if args.cmd.startswith("make-"):
        return (make_qwen3 if args.cmd == "make-qwen3" else make_llama8b)(args.path, args.tiny)
    result = agreement(args.model, args.max_tokens)
    args.out.write_text(json.dumps(result, indent=1))
    agreed = [r["agreed"] for r in result["prompts"]]
    print(f"agreement {args.model.name}: passed={result['passed']} agreed tokens {agreed}")
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
