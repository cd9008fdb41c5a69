"""`torchrun --nproc-per-node W -m engine PROMPT --model DIR`: one greedy or sampled generation
with a MoE model's experts split over W ranks (engine/dist.py); rank 0 prints the result. Each
rank's entry point (engine/__main__.py hands over to it); `dojo engine run --ep W` launches the
ranks (grader/runtime/launch.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    ap.add_argument("prompt", help="prompt text, or token ids as a JSON list")
    ap.add_argument("--model", required=True, help="a Hugging Face Qwen3-MoE or Mixtral directory")
    ap.add_argument("--kernels", default="auto")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--kv-cache-tokens", type=int, default=None)
    ap.add_argument("--chat", action="store_true", help="wrap the prompt in the chat template")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = ap.parse_args(argv)
    try:
        return _run(a)
    except (ValueError, NotImplementedError, OSError) as e:  # the engine's user errors
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2


def _run(a: argparse.Namespace) -> int:
    from engine import SamplingParams
    from engine.dist import EPLLM, init_from_env

    device = init_from_env()
    params = SamplingParams(temperature=a.temperature, max_tokens=a.max_tokens, seed=a.seed)
    kw = dict(kernels=a.kernels, dtype=a.dtype, kv_cache_tokens=a.kv_cache_tokens)
    llm = EPLLM(a.model, device=str(device), **kw)
    if llm.ep.rank:
        llm.follow()
        return 0
    prompt = json.loads(a.prompt) if a.prompt.startswith("[") else a.prompt
    start = time.perf_counter()
    try:
        ids = llm.encode(prompt, chat=a.chat)
        out = llm.generate([ids], params, use_tqdm=False)[0]
    finally:
        llm.stop()
    seconds, done = time.perf_counter() - start, out.outputs[0]
    if not a.json:
        text = done.text if llm.tokenizer is not None else f" -> {done.token_ids}"
        print(f"{a.prompt}{text}\n[{len(done.token_ids)} tokens in {seconds:.2f} s on "
              f"{llm.ep.world} expert-parallel ranks]")  # fmt: skip
        return 0
    fields = dict(prompt=a.prompt, prompt_token_ids=out.prompt_token_ids, text=done.text)
    fields |= dict(token_ids=done.token_ids, finish_reason=done.finish_reason)
    fields |= dict(kernels=llm.kernels.bound, ep=llm.ep.world, seconds=round(seconds, 3))
    print(json.dumps({"schema": 1, **fields}))
    return 0
