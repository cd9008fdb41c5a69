"""paged_attention on a GPU, one process: the solution, a sweep of its launch plan, and torch
SDPA and FlexAttention as peers (reference/peers/paged_attention.py, the ones `dojo bench
paged_attention --peers` times), each timed with the grader's clocks and checked against the
reference, as fractions of the copy bandwidth measured in the same run.

Usage (on a CUDA machine, from the repository root):
    PYTHONPATH=$PWD python scripts/gpu_paged_attention.py [OUT_DIR]
writes OUT_DIR/paged_attention_peers.json (OUT_DIR defaults to $OUT, else ./out).
    PYTHONPATH=$PWD python scripts/gpu_paged_attention.py OUT_DIR --long
sweeps only the B = 1, 128k-key case, longer chunks included (paged_attention_long.json).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from grader.harness.compare import assert_close
from grader.harness.hooks import hooks_for
from grader.problem.registry import get_problem
from grader.runtime import timing
from reference import paged_attention as ref
from reference.peers.paged_attention import flex_gathered, sdpa_gathered
from solutions.paged_attention import triton as sol

PROBLEM = get_problem("paged_attention")
PERF = PROBLEM.perf["gpu"]
POOL = 2  # distinct inputs rotated through the samples
BUDGET_S = 1.0
DEVICE = "cuda"
WARPS_STAGES = ((4, 2), (4, 3), (8, 2), (8, 3))
TILE_KNOBS = [(bn, w, st) for bn in (32, 64, 128) for w, st in WARPS_STAGES]
CHUNKS = (512, 1024, 2048, 4096)


@dataclasses.dataclass(frozen=True, slots=True)
class Bench:
    """One case's rotating inputs, the reference outputs and tolerances, and the copy speed."""

    case: dict
    pool: list
    expected: list
    tols: list
    copy_bw: float

    def verify(self, i: int, out: torch.Tensor) -> None:
        j = i % POOL
        assert_close(out, self.expected[j], self.tols[j], name="paged_decode_attention")


def measure(call: Callable, bench: Bench, check: bool = True) -> dict:
    """Median time of call(**inputs) over the rotating pool and its fraction of copy; every
    timed output is checked against the reference (a wrong peer is timed and marked wrong)."""
    pool, want_check = bench.pool, check
    try:
        bench.verify(0, call(**pool[0]))
        check = "ok"
    except AssertionError as e:
        check = f"wrong: {str(e).splitlines()[0]}"
    except Exception as e:  # noqa: BLE001 - a peer that cannot run is a finding, not a crash
        return {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"}
    for i in range(3):
        call(**pool[i % POOL])  # compile, autotune, allocator warm-up
    verify = bench.verify if check == "ok" else None
    if not want_check:
        verify, check = None, "not checked (a diagnostic)"
    try:
        t = timing.time_gpu(lambda i: call(**pool[i % POOL]), BUDGET_S, check=verify)
    except AssertionError as e:  # right once (a stale buffer?), wrong on a later sample
        return {"check": f"wrong while timed: {str(e).splitlines()[0]}"}
    fraction = ref.cost(bench.case)["bytes"] / (t.median_ms * 1e-3) / bench.copy_bw
    return {
        **t.to_json(),
        "fraction": round(fraction, 4),
        "tier": PERF.tier(fraction),
        "check": check,
    }


def solution_with(plan: sol.Plan) -> Callable:
    return lambda **a: sol.attend(**a, plan=plan)


def sweep(bench: Bench) -> list[dict]:
    """Tile, warps and stages at the default chunk, then the chunk at the best of those."""
    a = bench.pool[0]
    base = sol.plan_for(a["q"], a["k_cache"], a["block_tables"].shape[1])
    rows = []
    for block_n, warps, stages in TILE_KNOBS:
        plan = dataclasses.replace(base, block_n=block_n, warps=warps, stages=stages)
        rows.append({"plan": dataclasses.asdict(plan), **measure(solution_with(plan), bench)})
    timed = [r for r in rows if r.get("check") == "ok"]
    best = max(timed, key=lambda r: r["fraction"])["plan"] if timed else dataclasses.asdict(base)
    for chunk in CHUNKS:
        if chunk == best["chunk"] or chunk % best["block_n"]:
            continue
        plan = sol.Plan(**{**best, "chunk": chunk})
        rows.append({"plan": dataclasses.asdict(plan), **measure(solution_with(plan), bench)})
    return rows


def long_sweep(bench: Bench) -> list[dict]:
    """B = 1 at 128k keys: chunks up to 16384 keys (8 programs per KV head) at each tile knob,
    then the merge without PDL, fused into the last program of each head (Plan.fuse)."""
    a = bench.pool[0]
    base = sol.plan_for(a["q"], a["k_cache"], a["block_tables"].shape[1])
    rows = []
    for chunk in (4096, 8192, 16384):
        for block_n, warps, stages in [(128, w, st) for w, st in WARPS_STAGES]:
            plan = dataclasses.replace(
                base, chunk=chunk, block_n=block_n, warps=warps, stages=stages
            )
            rows.append({"plan": dataclasses.asdict(plan), **measure(solution_with(plan), bench)})
    for chunk, fuse, pdl in ((4096, False, False), (4096, True, False), (2048, True, False)):
        plan = dataclasses.replace(base, chunk=chunk, fuse=fuse, pdl=pdl)  # the merge's options
        rows.append({"plan": dataclasses.asdict(plan), **measure(solution_with(plan), bench)})
    rows.append({"plan": "default, phase 1 alone (the combine not launched: wrong, not checked)",
                 **measure(phase_one_only, bench, check=False)})  # fmt: skip
    return rows


def phase_one_only(**inputs) -> torch.Tensor:
    """The solution with its combine kernel not launched: what the second launch costs."""
    combine, sol._combine_kernel = sol._combine_kernel, _NoLaunch()
    try:
        return sol.paged_decode_attention(**inputs)
    finally:
        sol._combine_kernel = combine


class _NoLaunch:
    def __getitem__(self, grid):
        return lambda *args, **kwargs: None


def run_case(case: dict, copy_bw: float, long: bool = False) -> dict:
    gen = torch.Generator(device=DEVICE)
    pool = [ref.make_inputs(case, gen.manual_seed(1000 + i)) for i in range(POOL)]
    expected = [ref.paged_decode_attention(**p) for p in pool]
    bench = Bench(case, pool, expected, [hooks_for(PROBLEM).tolerance(p) for p in pool], copy_bw)
    plan = sol.plan_for(pool[0]["q"], pool[0]["k_cache"], pool[0]["block_tables"].shape[1])
    return {
        "case": case,
        "bytes": ref.cost(case)["bytes"],
        "solution": measure(sol.paged_decode_attention, bench),
        "solution_plan": dataclasses.asdict(plan),
        "sweep": long_sweep(bench) if long else sweep(bench),
        "peers": {}
        if long
        else {
            "torch_sdpa_over_gathered_pages": measure(sdpa_gathered, bench),
            "flex_attention_over_gathered_pages": measure(flex_gathered, bench),
        },
    }


def main(out_dir: Path, long: bool = False) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    copy_bw = timing.copy_bandwidth()
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": __import__("triton").__version__,
        "copy_bandwidth_Bps": copy_bw,
        "bars": PERF.bars,
        "cases": [],
    }
    for case in PERF.cases[:1] if long else PERF.cases:
        row = run_case(case, copy_bw, long)
        result["cases"].append(row)
        print(summary(row), flush=True)
        torch.cuda.empty_cache()
    result["seconds"] = round(time.time() - started, 1)
    path = out_dir / ("paged_attention_long.json" if long else "paged_attention_peers.json")
    path.write_text(json.dumps(result, indent=1))
    print(f"copy {copy_bw / 1e12:.3f} TB/s; wrote {path} in {result['seconds']} s")


def summary(row: dict) -> str:
    def f(r: dict) -> str:
        if "fraction" not in r:
            return r.get("error") or r.get("check", "?")
        return f"{r['fraction']:.3f} ({r['median_ms'] * 1e3:.0f} us, {r['tier']}, {r['check']})"

    best = max(
        (r for r in row["sweep"] if "fraction" in r), key=lambda r: r["fraction"], default=None
    )
    lines = [f"{row['case']}: solution {f(row['solution'])} plan {row['solution_plan']}"]
    if best:
        lines.append(f"  best swept {f(best)} plan {best['plan']}")
    lines += [f"  {name} {f(r)}" for name, r in row["peers"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        args = [a for a in sys.argv[1:] if a != "--long"]
        main(Path(args[0] if args else os.environ.get("OUT", "out")), "--long" in sys.argv)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
