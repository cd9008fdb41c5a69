"""Speculative decoding on real weights (issue 13; random weights accept nothing, their argmax is
noise): SmolLM2-135M-Instruct, the default model, as the target; its own first layers as the
self-draft, and n-gram prompt lookup. bs=1 greedy, one prompt at a time through the chat
template: acceptance, tokens per verifying step, end-to-end speedup over plain decoding, and
whether the tokens equal plain decoding's (in bf16 a verify chunk rounds differently from a
decode step, so near-ties may flip). Each engine is warmed up with speculation first, so no
compile lands in the timed run. On the device the model arrives through
scripts/gpu_smollm2_weights.sh (two calls), which runs this script after converting it.
Usage: python3 scripts/gpu_spec_real.py MODEL_DIR OUT.json [--tokens N] [--layers L]"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = [
    "Write a Python function that returns the squares of a list, then the same with a loop.",
    "List the first twelve multiples of seven, one per line, as 'n x 7 = m'.",
    "Explain in three sentences why the sky is blue.",
    "Repeat this sentence three times: the quick brown fox jumps over the lazy dog.",
]
WARM = "Count from one to twenty in words."


def encode(tok, text: str) -> list[int]:
    ids = tok.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
    )
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)  # transformers 5: a mapping


def timed(llm, prompts: list[list[int]], n: int) -> tuple[list[list[int]], float]:
    """Greedy outputs of each prompt alone (bs=1) and the seconds they took in all."""
    from engine import SamplingParams

    params, outs, seconds = SamplingParams(temperature=0, max_tokens=n), [], 0.0
    for p in prompts:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        outs.append(llm.generate([p], params, use_tqdm=False)[0].outputs[0].token_ids)
        seconds += time.perf_counter() - start
    return outs, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--layers", type=int, default=10, help="self-draft: the target's first L")
    args = ap.parse_args()
    from engine import LLM

    dtype = "bfloat16" if torch.cuda.is_available() else "float32"
    # plain_eager: plain decoding without CUDA graphs, as the speculative path runs (its verify
    # and draft shapes change every step): how much of its cost is eager launches
    runs = {"plain": (None, {}), "plain_eager": (None, {"enforce_eager": True}),
            "self_draft": ({"layers": args.layers, "num_tokens": 4}, {}),
            "ngram": ({"ngram": 3, "num_tokens": 4}, {})}  # fmt: skip
    result, want = {"model": str(args.model), "dtype": dtype, "tokens": args.tokens}, None
    for name, (spec, extra) in runs.items():
        llm = LLM(str(args.model), dtype=dtype, max_model_len=2048, speculative=spec, **extra)
        prompts = [encode(llm.tokenizer, t) for t in PROMPTS]
        timed(llm, [encode(llm.tokenizer, WARM)], 48)  # compiles, captures, verify shapes
        if spec:
            llm.spec.counts = dict.fromkeys(llm.spec.counts, 0)  # the timed prompts' alone
        outs, seconds = timed(llm, prompts, args.tokens)
        n_out = sum(len(o) for o in outs)
        row = {"seconds": seconds, "tokens_per_s": n_out / seconds, "output_tokens": n_out}
        if spec:
            row.update(llm.spec.stats(), speedup_vs_plain=result["plain"]["seconds"] / seconds)
            row["prompts_identical_to_plain"] = sum(a == b for a, b in zip(outs, want))
        elif name == "plain":
            want = outs
            row["first_answer"] = llm.tokenizer.decode(outs[0])[:200]
        result[name] = row
        print(name, {k: v for k, v in row.items() if k != "first_answer"}, flush=True)
        args.out.write_text(json.dumps(result, indent=1))  # a run cut short keeps what it has
        del llm


if __name__ == "__main__":
    main()
