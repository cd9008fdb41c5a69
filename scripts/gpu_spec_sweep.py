"""spec_decode on an H200, one process: the shipped Triton verify and launch plans of it
(solutions/spec_decode/triton.py's Plan), each timed with the grader's clocks (L2 flushed, launch
hidden behind a spin kernel, CUDA events) on the bench case, every timed output checked against
the reference's, as fractions of the copy bandwidth measured in the same run; then two read-only
ceilings and a per-kernel profile of the shipped and the best plan.

Usage (on a CUDA machine, from the repository root; about a minute on an H200):
    PYTHONPATH=$PWD python scripts/gpu_spec_sweep.py [OUT_DIR]
writes OUT_DIR/spec_sweep.json (OUT_DIR defaults to $OUT, else ./out) and prints a table. To ship
the best plan, paste the line printed after "ship:" over triton.py's `PLAN = Plan()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
import triton
import triton.language as tl

from grader.problem.registry import get_problem
from grader.runtime import timing
from reference import spec_decode as ref
from solutions.spec_decode import triton as sol
from solutions.spec_decode.triton import _load_block, _store_sums

PERF = get_problem("spec_decode").perf["gpu"]
POOL = 4  # distinct inputs (seeds) rotated through the samples
BUDGET_S = 1.0
MIN_SAMPLES = 24
DEADLINE_S = 65  # plans not started by then are skipped (the run stays under 100 s)
SMEM_PER_SM = 228 * 1024  # an H100's or H200's shared memory per SM
FAST = {"sampler": "scan", "pdl": True}  # kernel 2 vectorised and launched early

PLANS = {  # name -> plan; session 8's H200 sweep (results/h200_spec_sweep2.json) found
    # prefetch + evict_first best (44.6 us); these are that and its neighbours, best guesses first
    "scan_pdl": sol.Plan(**FAST),
    "scan_pdl_prefetch_evict_first": sol.Plan(**FAST, prefetch=True, evict="evict_first"),
    "scan_pdl_stages3_b1024_per16_evict_first": sol.Plan(
        **FAST, stages=3, block=1024, per_program=16, evict="evict_first"
    ),
    "scan_pdl_stages3_per16_evict_first": sol.Plan(
        **FAST, stages=3, per_program=16, evict="evict_first"
    ),
    "scan_pdl_stages2_evict_first": sol.Plan(**FAST, stages=2, evict="evict_first"),
    "scan_pdl_stages3_evict_first": sol.Plan(**FAST, stages=3, evict="evict_first"),
    "scan_pdl_b1024_prefetch_per16_evict_first": sol.Plan(
        **FAST, block=1024, prefetch=True, per_program=16, evict="evict_first"
    ),
    "scan_pdl_prefetch_evict_first_sample_w8": sol.Plan(
        **FAST, prefetch=True, evict="evict_first", sample_warps=8
    ),
    "scan_pdl_stages3_b1024_per16_evict_first_sample_w8": sol.Plan(
        **FAST, stages=3, block=1024, per_program=16, evict="evict_first", sample_warps=8
    ),
    "scan_pdl_w8_evict_first": sol.Plan(**FAST, warps=8, evict="evict_first"),
    "scan_pdl_b4096_per8_w8_evict_first": sol.Plan(
        **FAST, block=4096, per_program=8, warps=8, evict="evict_first"
    ),
    "scan_pdl_prefetch_per16_evict_first": sol.Plan(
        **FAST, prefetch=True, per_program=16, evict="evict_first"
    ),
    "scan_pdl_stages3_b1024_per8_evict_first": sol.Plan(
        **FAST, stages=3, block=1024, per_program=8, evict="evict_first"
    ),
    "scan_pdl_evict_first": sol.Plan(**FAST, evict="evict_first"),
    "scan_pdl_stages3_b1024_per16": sol.Plan(**FAST, stages=3, block=1024, per_program=16),
    "scan_pdl_prefetch": sol.Plan(**FAST, prefetch=True),
    "pdl": sol.Plan(pdl=True),
    "scan": sol.Plan(sampler="scan"),
}


@triton.jit
def _stream_given_n_kernel(
    n_ptr, q_ptr, p_ptr, res_sums_ptr, p_sums_ptr, G, V, SUMS_STRIDE,
    BLOCK: tl.constexpr, PER_PROGRAM: tl.constexpr,
):  # fmt: skip
    # Diagnostic: kernel 1's stream with each row's stop position read from n_ptr (one load)
    # instead of found from the G gathered probabilities (two dependent loads).
    rows = (tl.program_id(0) + tl.arange(0, 1)).to(tl.int64)  # [1]
    ok = rows >= 0
    n = tl.load(n_ptr + rows)  # [1]
    p_row = p_ptr + (rows * (G + 1) + n) * V
    q_row = q_ptr + (rows * G + tl.minimum(n, G - 1)) * V
    first = tl.program_id(1) * PER_PROGRAM
    for k in range(PER_PROGRAM):
        p, q = _load_block(p_row, q_row, ok, n < G, first + k, V, BLOCK, "")
        _store_sums(res_sums_ptr, p_sums_ptr, p, q, rows, ok, first + k, SUMS_STRIDE)


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

    def fraction(self, ms: float) -> float:
        return ref.cost(self.case)["bytes"] / (ms * 1e-3) / self.copy_bw


def measure(call: Callable, bench: Bench, check: bool = True) -> dict:
    """Median time of call(**inputs) over the pool, its fraction of copy, outputs checked."""
    try:
        out = call(**bench.pool[0])
        if check:
            bench.verify(0, out)
    except AssertionError as e:
        return {"check": f"wrong: {e}"}
    except Exception as e:  # noqa: BLE001 - a plan that cannot compile or launch is a finding
        return {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"}
    for i in range(3):
        call(**bench.pool[i % POOL])  # compile, allocator warm-up
    try:
        t = timing.time_gpu(
            lambda i: call(**bench.pool[i % POOL]),
            BUDGET_S,
            MIN_SAMPLES,
            300,
            bench.verify if check else None,
        )
    except AssertionError as e:  # right on the first input, wrong on a later one
        return {"check": f"wrong: {e}"}
    fraction = bench.fraction(t.median_ms)
    verdict = "ok" if check else "not checked (diagnostic)"
    return {
        **t.to_json(),
        "fraction": round(fraction, 4),
        "tier": PERF.tier(fraction),
        "check": verdict,
    }


def compiled() -> dict[int, dict]:
    """Every compiled variant of the solution's kernels: registers, spills, warps, and how many
    programs of it one SM holds by registers, warps and shared memory (65536 registers, 64 warps,
    228 KiB per SM, 1 KiB of it reserved per program).
    Best effort: Triton's cache layout is internal."""
    out = {}
    for fn in (sol._block_sums_kernel, sol._sample_kernel, sol._sample_scan_kernel):
        for cache in getattr(fn, "device_caches", {}).values():
            for k in cache[0].values():
                regs, warps, smem = getattr(k, "n_regs", 0), k.metadata.num_warps, k.metadata.shared
                fit = 65536 // max(1, -(-regs // 8) * 8 * 32 * warps) if regs else None
                out[id(k)] = {
                    "kernel": fn.__name__,
                    "regs": regs,
                    "spills": getattr(k, "n_spills", None),
                    "warps": warps,
                    "shared": smem,
                    "programs_per_sm_est": fit
                    and min(fit, 64 // warps, SMEM_PER_SM // (smem + 1024)),
                }
    return out


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


def ceilings(bench: Bench) -> dict:
    """What reading the same bytes costs without the sampling: torch's row sum over 2B
    contiguous rows of V floats, and kernel 1's stream with the stop positions given."""
    B, G, V = (bench.case[k] for k in ("B", "G", "V"))
    rows2 = torch.rand(2 * B, V, device="cuda")  # (2B, V): the bytes of B p rows and B q rows
    n = (bench.expected[0][1] - 1).to(torch.int64)  # (B,) stop positions of input 0
    nb = triton.cdiv(V, 2048)
    sums = torch.empty(2, B, triton.cdiv(nb, 8) * 8, device="cuda")  # (2, B, NB padded)

    def stream(**x):
        grid = (B, triton.cdiv(nb, 8))
        _stream_given_n_kernel[grid](
            n, x["draft_probs"], x["target_probs"], sums[0], sums[1], G, V, sums.shape[2],
            BLOCK=2048, PER_PROGRAM=8, num_warps=4,
        )  # fmt: skip

    return {
        "torch_row_sum_2BxV": measure(lambda **x: rows2.sum(dim=1), bench, check=False),
        "kernel1_stream_given_n": measure(stream, bench, check=False),
    }


def kernels(call: Callable, bench: Bench, n: int = 8) -> list[dict]:
    """GPU time per kernel per call (torch.profiler), L2 flushed between calls. With PDL the
    sampling kernel's span starts early, so it includes its wait for kernel 1."""
    flush = timing._flush_buffer()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for i in range(n):
            flush.zero_()
            call(**bench.pool[i % POOL])
        torch.cuda.synchronize()
    rows = []
    for e in prof.key_averages():
        us = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if us > 0 and e.count >= n and "fill" not in e.key.lower():  # not the flush
            rows.append({"kernel": e.key[:90], "calls": e.count, "us_per_call": us / n})
    return rows


def sweep(bench: Bench, started: float) -> dict:
    rows = {"shipped": measured(sol.verify, bench)}
    for name, plan in PLANS.items():
        row = {"plan": _changed(plan)}
        if time.time() - started > DEADLINE_S:
            rows[name] = {**row, "error": f"skipped: past {DEADLINE_S} s"}
            continue
        rows[name] = {**row, **measured(_with(plan), bench)}
    rows["shipped_again"] = measure(sol.verify, bench)  # drift over the run: compare with row 1
    return rows


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    case = PERF.cases[0]
    copy_bw = timing.copy_bandwidth()
    pool = [
        ref.make_inputs(case, torch.Generator("cuda").manual_seed(7000 + i)) for i in range(POOL)
    ]
    bench = Bench(case, pool, [ref.verify(**x) for x in pool], copy_bw)
    rows = sweep(bench, started)
    timed = {k: r for k, r in rows.items() if k in PLANS and r.get("check") == "ok"}
    best = min(timed, key=lambda k: timed[k]["median_ms"], default=None)
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "case": case,
        "bytes": ref.cost(case)["bytes"],
        "accepted_drafts_per_input": [int(c.sum()) - len(c) for _, c in bench.expected],
        "copy_bandwidth_Bps": copy_bw,
        "bars": PERF.bars,
        "rows": rows,
        "best": best,
    }
    for key, what in (
        ("ceilings", lambda: ceilings(bench)),
        ("kernels", lambda: _profiles(bench, best)),
        ("best_on_fixed_cases", lambda: best and fixed_cases(PLANS[best])),
    ):
        try:  # diagnostics: the timings above stand without them
            assert time.time() - started < DEADLINE_S + 10, "skipped: out of time"
            result[key] = what()
        except Exception as e:  # noqa: BLE001
            result[key] = {"error": f"{type(e).__name__}: {e}"[:300]}
    result["seconds"] = round(time.time() - started, 1)
    path = out_dir / "spec_sweep.json"
    path.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"wrote {path} in {result['seconds']} s")


def fixed_cases(plan: sol.Plan, device: str = "cuda") -> str:
    """The plan on the problem's fixed cases (odd sizes, short rows, rows split over programs),
    compiled for real on this GPU: 'ok', or the cases whose tokens or counts differ."""
    wrong = []
    for case in get_problem("spec_decode").cases:
        x = ref.make_inputs(case, torch.Generator(device).manual_seed(0))
        got, want = sol.verify(**x, plan=plan), ref.verify(**x)
        if not (torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])):
            wrong.append(case)
    return f"wrong on {wrong}" if wrong else "ok"


def _profiles(bench: Bench, best: str | None) -> dict:
    out = {"shipped": kernels(sol.verify, bench)}
    if best:
        out[best] = kernels(_with(PLANS[best]), bench)
    return out


def _with(plan: sol.Plan) -> Callable:
    return lambda **a: sol.verify(**a, plan=plan)


def _changed(plan: sol.Plan) -> dict:
    """The plan's fields that differ from the default Plan()."""
    default = sol.Plan()
    return {
        f.name: getattr(plan, f.name)
        for f in dataclasses.fields(plan)
        if getattr(plan, f.name) != getattr(default, f.name)
    }


def table(result: dict) -> str:
    lines = [
        f"{result['device']}, triton {result['triton']}: copy "
        f"{result['copy_bandwidth_Bps'] / 1e12:.3f} TB/s, case {result['case']}, "
        f"{result['bytes'] / 1e6:.1f} MB, bars {result['bars']}",
        f"{'name':<32} {'median us':>9} {'min us':>7} {'fraction':>8}  tier    check",
    ]
    extra = result.get("ceilings") if isinstance(result.get("ceilings"), dict) else {}
    for name, r in {
        **result["rows"],
        **{f"ceiling: {k}": v for k, v in extra.items() if isinstance(v, dict)},
    }.items():
        if "median_ms" not in r:
            lines.append(f"{name:<32} {r.get('error') or r.get('check', '?')}")
            continue
        regs = " ".join(  # registers/spills and est. programs per SM of each kernel compiled
            f"{k['kernel'][1:9]}:{k['regs']}r/{k['spills']}s/{k.get('shared', 0) // 1024}K/"
            f"{k['programs_per_sm_est']}"
            for k in r.get("compiled", [])
        )
        lines.append(
            f"{name:<32} {r['median_ms'] * 1e3:9.1f} {r['min_ms'] * 1e3:7.1f} "
            f"{r['fraction']:8.3f}  {str(r['tier']):<7} {r['check']}  {regs}"
        )
    for who, ks in (result.get("kernels") or {}).items():
        if isinstance(ks, list):
            parts = ", ".join(f"{k['kernel'][:30]} {k['us_per_call']:.1f} us" for k in ks)
            lines.append(f"kernels of {who}: {parts}")
    lines.append(f"best plan on the fixed cases: {result.get('best_on_fixed_cases')}")
    if result["best"]:
        args = ", ".join(f"{k}={v!r}" for k, v in result["rows"][result["best"]]["plan"].items())
        lines.append(f"best plan {result['best']}; ship: PLAN = Plan({args})")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        main(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "out")))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
