"""Why do multi-kernel solutions time slower under `dojo bench` than in a tight loop? A probe.

The grader's bench leaves the GPU idle between samples (fresh inputs cross to the worker, the
reference runs, the outputs are compared), while an in-process sweep times back to back. This
times the same calls in one process four ways, with the GPU's SM clock read before each
sample where NVML is available:
  tight   - time_gpu as the sweeps use it, samples back to back;
  idle    - IDLE_S of host sleep before each sample (the GPU idles, as under the grader);
  spin    - idle, then a SPIN_MS spin kernel before the usual sample;
  warm    - idle, then WARM_MS of memory traffic before the usual sample;
  fresh   - back to back, but new inputs (a new seed, new memory) for every sample.
Cases: paged_attention B = 1 (two kernels) and B = 64 (one), online_softmax's long fp32 rows
(the split path) and bf16 rows (one kernel), spec_decode. Usage: PYTHONPATH=$PWD python
scripts/gpu_idle_probe.py OUT.json
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import time

import torch

from grader.problem.registry import get_problem
from grader.runtime import timing

IDLE_S = 0.03
SPIN_MS = 10
WARM_MS = 5
SAMPLES = 25
CASES = (("paged_attention", 0), ("paged_attention", 1), ("online_softmax", 1),
         ("online_softmax", 0), ("spec_decode", 0))  # fmt: skip


def sm_clock() -> int | None:
    try:
        return torch.cuda.clock_rate()
    except Exception:  # noqa: BLE001 - NVML absent: no clock column
        return None


def busy(ms: float) -> None:
    """About ms of DRAM traffic: repeated zeroing of a 256 MiB buffer (~0.1 ms each)."""
    buf = timing._flush_buffer()
    for _ in range(max(1, int(ms / 0.1))):
        buf.zero_()


def mode_call(mode: str, fn) -> tuple[float, int | None]:
    if mode in ("idle", "spin", "warm"):
        torch.cuda.synchronize()
        time.sleep(IDLE_S)
    if mode == "spin":
        torch.cuda._sleep(int(SPIN_MS * 2e6))
    if mode == "warm":
        busy(WARM_MS)
    clock = sm_clock()
    ms, _ = timing.sample_gpu(fn)
    return ms, clock


def probe(slug: str, index: int, copy_bw: float) -> dict:
    problem = get_problem(slug)
    perf = problem.perf["gpu"]
    case = perf.cases[index]
    ref = importlib.import_module(f"reference.{slug}")
    sol = importlib.import_module(f"solutions.{slug}.triton")
    fn = getattr(sol, perf.entry)
    inputs = ref.make_inputs(case, torch.Generator("cuda").manual_seed(0))
    for _ in range(3):
        fn(**inputs)
    row = {"problem": slug, "case": case}
    for mode in ("tight", "idle", "spin", "warm", "fresh", "tight"):
        samples = []
        for i in range(SAMPLES):
            x = inputs
            if mode == "fresh":
                x = ref.make_inputs(case, torch.Generator("cuda").manual_seed(1 + i))
            samples.append(mode_call(mode, lambda x=x: fn(**x)))
            del x
        times, clocks = zip(*samples)
        ms = statistics.median(times)
        frac = ref.cost(case)["bytes"] / (ms * 1e-3) / copy_bw
        row[mode if mode not in row else "tight_again"] = {
            "median_ms": round(ms, 5), "min_ms": round(min(times), 5),
            "fraction": round(frac, 4), "sm_clock_mhz": sorted(set(c for c in clocks if c)),
        }  # fmt: skip
        print(slug, index, mode, round(ms, 5), round(frac, 4), clocks[:5], flush=True)
    return row


def main(path: str) -> None:
    copy_bw = timing.copy_bandwidth()
    rows = [probe(slug, i, copy_bw) for slug, i in CASES]
    out = {"device": torch.cuda.get_device_name(), "copy_bandwidth_Bps": copy_bw,
           "idle_s": IDLE_S, "spin_ms": SPIN_MS, "warm_ms": WARM_MS, "rows": rows}  # fmt: skip
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "idle_probe.json")
