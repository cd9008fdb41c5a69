"""spec_decode on a GPU, one process: the shipped Triton verify, launch plans of the rewritten
one (solutions/spec_decode/triton.py), and the vectorised PyTorch peer, each timed with the
grader's clocks (L2 flushed, launch hidden behind a spin kernel, CUDA events) on the bench case,
every timed output checked against the reference, as fractions of the copy bandwidth measured in
the same run; then a per-kernel profile of the shipped and the best plan.

Usage (on a CUDA machine, from the repository root; about a minute on an H200):
    PYTHONPATH=$PWD python scripts/gpu_spec_sweep.py [OUT_DIR]
writes OUT_DIR/spec_sweep.json (OUT_DIR defaults to $OUT, else ./out) and prints a table.
The default plan is solutions/spec_decode/triton.py's PLAN: to ship another, paste the line
printed after "ship:" over it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from grader.problem.registry import get_problem
from grader.runtime import timing
from grader.runtime.paths import ROOT
from reference import spec_decode as ref
from reference.peers.spec_decode import vectorised
from solutions.spec_decode import triton as sol

PERF = get_problem("spec_decode").perf["gpu"]
POOL = 4  # distinct inputs (seeds) rotated through the samples
BUDGET_S = 1.0
MIN_SAMPLES = 24
DEADLINE_S = 70  # plans not started by then are skipped (the run stays under 90 s)


def _plan(block=2048, sub=1, per_program=8, warps=4, fused=True) -> sol.Plan:
    return sol.Plan(block, sub, per_program, warps, fused)


PLANS = {  # name -> plan: the shipped PLAN, then one or two knobs away from 2048/1/8/4/fused
    "PLAN": sol.PLAN,
    "base": _plan(),
    "two_kernels": _plan(fused=False),
    "per4": _plan(per_program=4),
    "per16": _plan(per_program=16),
    "sub2": _plan(sub=2),
    "sub2_per16": _plan(sub=2, per_program=16),
    "sub2_per16_w8": _plan(sub=2, per_program=16, warps=8),
    "sub4_per16_w8": _plan(sub=4, per_program=16, warps=8),
    "b4096_per4_w8": _plan(block=4096, per_program=4, warps=8),
    "b4096_per2_w8": _plan(block=4096, per_program=2, warps=8),
    "w8": _plan(warps=8),
    "two_kernels_per4": _plan(per_program=4, fused=False),
    "two_kernels_sub2_per16": _plan(sub=2, per_program=16, fused=False),
}


@functools.cache
def shipped_module():
    """The Triton verify as shipped before this sweep (scripts/spec_decode_shipped.py)."""
    path = ROOT / "scripts" / "spec_decode_shipped.py"
    spec = importlib.util.spec_from_file_location("spec_decode_shipped", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # Triton's JIT reads the kernels' source through the module
    spec.loader.exec_module(mod)
    return mod


def shipped(**inputs):
    return shipped_module().verify(**inputs)


def compiled() -> dict[int, dict]:
    """Every compiled variant of the kernels timed here: registers, spills, warps, shared
    memory, and how many programs of it one SM can hold by registers and warps (an estimate:
    65536 registers and 64 warps per SM). Best effort: Triton's cache layout is internal."""
    mod, out = shipped_module(), {}
    for fn in (sol._verify_kernel, sol._combine_kernel, mod._block_sums_kernel, mod._sample_kernel):
        for cache in getattr(fn, "device_caches", {}).values():
            for k in cache[0].values():
                regs, warps = getattr(k, "n_regs", 0), k.metadata.num_warps
                fit = 65536 // max(1, -(-regs // 8) * 8 * 32 * warps) if regs else None
                out[id(k)] = {
                    "kernel": fn.__name__,
                    "regs": regs,
                    "spills": getattr(k, "n_spills", None),
                    "warps": warps,
                    "shared": k.metadata.shared,
                    "programs_per_sm_est": fit and min(fit, 64 // warps),
                }
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Bench:
    """The bench case's rotating inputs, the reference's outputs and the copy speed."""

    case: dict
    pool: list
    expected: list
    copy_bw: float

    def verify(self, i: int, out) -> None:
        tokens, counts = self.expected[i % POOL]
        ok = torch.equal(out[0], tokens) and torch.equal(out[1], counts)
        assert ok, f"sample {i}: tokens or counts differ from the reference's"


def measure(call: Callable, bench: Bench) -> dict:
    """Median time of call(**inputs) over the pool, its fraction of copy, every output checked."""
    try:
        bench.verify(0, call(**bench.pool[0]))
        check = "ok"
    except AssertionError as e:
        check = f"wrong: {e}"
    except Exception as e:  # noqa: BLE001 - a plan that cannot compile is a finding
        return {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"}
    for i in range(3):
        call(**bench.pool[i % POOL])  # compile, allocator warm-up
    check_fn = bench.verify if check == "ok" else None
    try:
        t = timing.time_gpu(
            lambda i: call(**bench.pool[i % POOL]), BUDGET_S, MIN_SAMPLES, 300, check_fn
        )
    except AssertionError as e:  # right on the first input, wrong on a later one
        return {"check": f"wrong: {e}"}
    fraction = ref.cost(bench.case)["bytes"] / (t.median_ms * 1e-3) / bench.copy_bw
    return {
        **t.to_json(),
        "fraction": round(fraction, 4),
        "tier": PERF.tier(fraction),
        "check": check,
    }


def measured(call: Callable, bench: Bench) -> dict:
    """measure(), plus the kernel variants that compiling this call added."""
    try:
        before = set(compiled())
    except Exception:  # noqa: BLE001 - a diagnostic only
        before = None
    row = measure(call, bench)
    if before is not None:
        with contextlib.suppress(Exception):
            row["compiled"] = [v for k, v in compiled().items() if k not in before]
    return row


def kernels(call: Callable, bench: Bench, n: int = 8) -> list[dict]:
    """GPU time per kernel per call (torch.profiler), L2 flushed by an add between calls."""
    flush = timing._flush_buffer()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for i in range(n):
            flush.add_(1)
            call(**bench.pool[i % POOL])
        torch.cuda.synchronize()
    rows = []
    for e in prof.key_averages():
        us = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if us > 0 and e.count >= n and "add" not in e.key.lower():  # not the flush
            rows.append({"kernel": e.key[:90], "calls": e.count, "us_per_call": us / n})
    return rows


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    case = PERF.cases[0]
    copy_bw = timing.copy_bandwidth()
    gens = [torch.Generator("cuda").manual_seed(7000 + i) for i in range(POOL)]
    pool = [ref.make_inputs(case, g) for g in gens]
    bench = Bench(case, pool, [ref.verify(**x) for x in pool], copy_bw)
    n = [int(c.sum()) - len(c) for _, c in bench.expected]  # accepted drafts per input
    rows = {"shipped": measured(shipped, bench)}
    for name, plan in PLANS.items():
        row = {"plan": dataclasses.asdict(plan)}
        if time.time() - started > DEADLINE_S:  # keep the whole run under a minute and a half
            rows[name] = {**row, "error": f"skipped: past {DEADLINE_S} s"}
            continue
        rows[name] = {**row, **measured(_with(plan), bench)}
    rows["peer_torch_vectorised"] = measure(vectorised, bench)
    rows["shipped_again"] = measure(shipped, bench)  # drift over the run: compare with row 1
    timed = {k: r for k, r in rows.items() if k in PLANS and r.get("check") == "ok"}
    best = min(timed, key=lambda k: timed[k]["median_ms"], default=None)
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": __import__("triton").__version__,
        "case": case,
        "bytes": ref.cost(case)["bytes"],
        "accepted_drafts_per_input": n,
        "copy_bandwidth_Bps": copy_bw,
        "bars": PERF.bars,
        "rows": rows,
        "best": best,
    }
    try:  # the profile is skipped when time is short
        assert time.time() - started < DEADLINE_S + 10, "skipped: out of time"
        result["kernels"] = {"shipped": kernels(shipped, bench)}
        if best:
            result["kernels"][best] = kernels(_with(PLANS[best]), bench)
    except Exception as e:  # noqa: BLE001 - the profile is a diagnostic; the timings stand
        result["kernels"] = {"error": f"{type(e).__name__}: {e}"[:300]}
    result["seconds"] = round(time.time() - started, 1)
    path = out_dir / "spec_sweep.json"
    path.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"wrote {path} in {result['seconds']} s")


def _with(plan: sol.Plan) -> Callable:
    return lambda **a: sol.verify(**a, plan=plan)


def table(result: dict) -> str:
    lines = [
        f"{result['device']}, triton {result['triton']}: copy "
        f"{result['copy_bandwidth_Bps'] / 1e12:.3f} TB/s, case {result['case']}, "
        f"{result['bytes'] / 1e6:.1f} MB, bars {result['bars']}",
        f"{'name':<24} {'median us':>9} {'min us':>7} {'fraction':>8}  tier    check",
    ]
    for name, r in result["rows"].items():
        if "median_ms" not in r:
            lines.append(f"{name:<24} {r.get('error') or r.get('check', '?')}")
            continue
        regs = " ".join(  # registers/spills, est. programs per SM, of each kernel compiled
            f"{k['regs']}r/{k['spills']}s/{k['programs_per_sm_est']}" for k in r.get("compiled", [])
        )
        lines.append(
            f"{name:<24} {r['median_ms'] * 1e3:9.1f} {r['min_ms'] * 1e3:7.1f} "
            f"{r['fraction']:8.3f}  {str(r['tier']):<7} {r['check']}  {regs}"
        )
    for who, ks in result.get("kernels", {}).items():
        if isinstance(ks, list):
            parts = ", ".join(f"{k['kernel'][:40]} {k['us_per_call']:.1f} us" for k in ks)
            lines.append(f"kernels of {who}: {parts}")
    if result["best"]:
        p = result["rows"][result["best"]]["plan"]
        args = ", ".join(f"{k}={v}" for k, v in p.items())
        lines.append(f"best plan {result['best']}; ship: PLAN = Plan({args})")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        main(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "out")))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
