"""Where a bs=1 decode step's time goes (issue 13: 0.61 of the HBM roofline on a Llama-3-8B
shape, target 0.80): torch.profiler over decode steps of a random Llama-3-8B-shaped bf16 model
with CUDA graphs on, as `dojo engine bench --workload bs1` runs it. Writes JSON: the step's
wall time, the GPU's busy time inside it (kernel time summed) and the idle rest, kernels per
step, and the kernels that take the most time per step with their achieved bandwidth where
the bytes are known (the GEMVs: weight bytes). One device call, about 1-2 minutes.
Usage: python3 scripts/gpu_bs1_profile.py OUT.json [--tiny] (--tiny: a CPU dry run)"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.engine_tools.random_model import LLAMA3_8B, TINY_LLAMA, write_random_llama  # noqa: E402

STEPS, PROMPT = 32, 128


def decode_steps(llm, n: int) -> float:
    """n decode steps of one request after a PROMPT-token prefill; seconds per step."""
    from engine import SamplingParams

    prompt = [(7 + 13 * i) % llm.model_config.vocab_size for i in range(PROMPT)]
    params = SamplingParams(temperature=0, ignore_eos=True, max_tokens=n + 1)
    when = [time.perf_counter() for _ in llm.stream(prompt, params)]
    return (when[-1] - when[0]) / (len(when) - 1)


def kernel_table(prof, steps: int) -> tuple[list[dict], float, int]:
    """Per kernel name: calls and microseconds per step; GPU busy microseconds per step."""
    total, calls = defaultdict(float), defaultdict(int)
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            total[e.name] += e.device_time_total
            calls[e.name] += 1
    rows = [
        {"kernel": k[:90], "us_per_step": t / steps, "calls_per_step": calls[k] / steps}
        for k, t in sorted(total.items(), key=lambda kv: -kv[1])
    ]
    return rows, sum(total.values()) / steps, round(sum(calls.values()) / steps)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    from engine import LLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        write_random_llama(Path(tmp), TINY_LLAMA if args.tiny else LLAMA3_8B, device)
        llm = LLM(tmp, dtype="bfloat16", max_num_seqs=1, max_model_len=1024)
        decode_steps(llm, 8)  # warm-up: compiles, captures the bs=1 graph
        plain = decode_steps(llm, STEPS)
        acts = [torch.profiler.ProfilerActivity.CPU]
        acts += [torch.profiler.ProfilerActivity.CUDA] if device == "cuda" else []
        with torch.profiler.profile(activities=acts) as prof:
            profiled = decode_steps(llm, STEPS)
        rows, busy_us, kernels = kernel_table(prof, STEPS + 1)
    result = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "cuda_graphs": llm.runner.graphs is not None,
        "ms_per_step": plain * 1e3,
        "ms_per_step_profiled": profiled * 1e3,
        "gpu_busy_ms_per_step": busy_us / 1e3,
        "gpu_idle_ms_per_step": profiled * 1e3 - busy_us / 1e3,
        "kernels_per_step": kernels,
        "top_kernels": rows[:25],
    }
    args.out.write_text(json.dumps(result, indent=1))
    print({k: v for k, v in result.items() if k != "top_kernels"})
    for r in rows[:12]:
        print(f"{r['us_per_step']:9.1f} us x{r['calls_per_step']:5.1f}  {r['kernel']}")


if __name__ == "__main__":
    main()
