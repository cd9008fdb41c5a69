"""smem_transpose on one GPU in one call: every float4 Plan candidate, the scalar transpose_kernel
(the solution shipped before them), x.t().contiguous() and torch.compile of the reference,
checked bit for bit (bench case and ragged shapes), then timed round-robin on 16384 x 16384
against a device-to-device copy measured in the same run. Not part of grading.

Usage (repository root, about 40-70 s on an H200; stops adding rounds at --budget seconds):
    PYTHONPATH=$PWD python3 scripts/gpu_transpose_sweep.py [--rounds 60] [--budget 75]
Writes $OUT/transpose_sweep.json (OUT defaults to /tmp/out) and prints a table: fraction of copy
bandwidth per candidate, best first; gold is 0.9. The shipped candidate is solutions/
smem_transpose/cupy.py's PLAN line; `--banks` only checks the float4 access pattern (CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from problems.smem_transpose.hooks import warp_conflicts  # noqa: E402
from solutions.smem_transpose import cupy as sol  # noqa: E402

M = N = 16384  # the bench case: 2 GiB moved (1 GiB read, 1 GiB written)
DEVICE = "cuda"
RAGGED = [  # (M, N, offset): the float4 path where M, N % 4 == 0 and offset 0, else scalar
    (1000, 776, 0),
    (36, 4100, 0),
    (996, 1028, 0),
    (4, 262144, 0),
    (262148, 4, 0),
    (1000, 777, 0),
    (33, 4097, 0),
    (128, 128, 1),
]
BLOCK_SHAPES = [(1, 1), (1, 2), (2, 1), (1, 4), (2, 2), (4, 1), (2, 4), (4, 2), (1, 8), (8, 1)]
PERSISTENT_SHAPES = [(1, 4), (2, 2), (4, 1), (2, 4)]


def plans() -> dict[str, sol.Plan]:
    """The candidates, by name: region shape x block order x persistence x cache hints."""
    out = {}
    for (rt, ct), group in [(s, g) for s in BLOCK_SHAPES for g in (1, 8, 32)]:
        out[f"vec4 {rt}x{ct} g{group}"] = sol.Plan(rt, ct, group)
    for rt, ct in [(1, 4), (2, 2), (4, 1)]:  # column-major: group caps at the region rows
        out[f"vec4 {rt}x{ct} g1024"] = sol.Plan(rt, ct, 1024)
    for (rt, ct), group in [(s, g) for s in PERSISTENT_SHAPES for g in (1, 8)]:
        out[f"vec4 {rt}x{ct} g{group} persistent"] = sol.Plan(rt, ct, group, persistent=True)
    for rt, ct, persistent in [(2, 2, False), (1, 4, False), (2, 2, True)]:
        name = f"vec4 {rt}x{ct} g8{' persistent' if persistent else ''} streaming"
        out[name] = sol.Plan(rt, ct, 8, persistent=persistent, streaming=True)
    return out


def check_banks() -> None:
    """The float4 kernels' shared-memory pattern in the bank simulator: warp w fills slots
    32w..32w+31 (tile row s // 8, columns 4 * (s % 8) + e) and drains their mirror image."""
    for w in range(8):
        for e in range(4):
            slots = range(32 * w, 32 * w + 32)
            fill = [sol.smem_offset(s // 8, s % 8 * 4 + e) for s in slots]
            drain = [sol.smem_offset(s % 8 * 4 + e, s // 8) for s in slots]
            assert warp_conflicts(fill) == 0 and warp_conflicts(drain) == 0, (w, e)
    print("float4 fill and drain: 0 bank conflicts in all 8 warps x 4 elements")


@functools.cache
def source_for(options: tuple[str, ...]):
    """One CudaSource (one NVRTC compile) per distinct set of -D options: group and persistence
    are launch-time choices, so plans that differ only in those share a module."""
    plan = next(p for p in plans().values() if p.options() == options)
    return sol.layout_source(sol.SOURCE.path, sol.SMEM_WORDS, plan)


def candidates() -> dict[str, tuple]:
    """name -> (transpose function, Plan or None, checked on RAGGED too): the scalar kernel,
    the plans, the peers (bench input only: torch.compile would recompile for every shape)."""
    import torch

    from reference.peers import smem_transpose as peers

    def scalar(x):
        out = torch.empty((x.shape[1], x.shape[0]), dtype=x.dtype, device=x.device)  # (N, M)
        sol._launch_scalar(sol.SOURCE, x, out)
        return out

    found = {"scalar transpose_kernel (before)": (scalar, None, True)}
    for name, plan in plans().items():
        source = source_for(plan.options())
        found[name] = (lambda x, s=source, p=plan: sol._transpose(s, x, p), plan, True)
    found["x.t().contiguous()"] = (peers.torch_transpose, None, False)
    found["torch.compile(reference)"] = (peers.compiled_reference, None, False)
    return found


def exact(fn, x) -> bool:
    import torch

    from reference import smem_transpose as ref

    got, want = fn(x), ref.transpose(x)
    return got.shape == want.shape and torch.equal(got.view(torch.int32), want.view(torch.int32))


def check_all(found: dict, x, gen) -> dict[str, dict]:
    """Bit-exact on the bench input and on every RAGGED shape; a candidate that raises is
    recorded with its error and left out of the timing."""
    from reference import smem_transpose as ref

    ragged = [
        ref.make_inputs({"M": m, "N": n, "offset": o, "values": v}, gen)["x"]
        for m, n, o in RAGGED
        for v in ("index", "special")
    ]
    status = {}
    for name, (fn, _, check_ragged) in found.items():
        try:
            status[name] = {"bench_exact": exact(fn, x)}
            if check_ragged:
                status[name]["ragged_exact"] = all(exact(fn, xi) for xi in ragged)
        except Exception as e:  # noqa: BLE001 - one broken candidate must not end the sweep
            status[name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        print(f"checked {name}: {status[name]}", flush=True)
    return status


def time_round_robin(calls: dict, rounds: int, budget_s: float) -> dict[str, list[float]]:
    """One sample of each call per round (L2 flushed, launch hidden behind a spin kernel: the
    grader's own sample_gpu), so drift in clocks or temperature hits all candidates alike."""
    from grader.runtime import timing

    samples: dict[str, list[float]] = {name: [] for name in calls}
    began = time.perf_counter()
    for r in range(rounds):
        for name, call in calls.items():
            ms, out = timing.sample_gpu(call)
            samples[name].append(ms)
            del out
        if r >= 19 and time.perf_counter() - began > budget_s:
            break  # at least 20 samples each, then stop at the budget
    return samples


def kernel_facts(plan) -> dict:
    """Registers and static shared memory of the float4 kernel a plan launches, and for a
    persistent plan its grid (the resident blocks of one wave)."""
    source = source_for(plan.options())
    name = "transpose_vec4_persistent" if plan.persistent else "transpose_vec4"
    kernel = source.kernel(name)
    attrs = kernel.attributes
    facts = {"num_regs": attrs["num_regs"], "smem_bytes": attrs["shared_size_bytes"]}
    if plan.persistent:
        import torch

        facts["grid"] = sol._resident_blocks(kernel, torch.device(DEVICE))
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--budget", type=float, default=75.0, help="seconds of the whole run")
    parser.add_argument("--banks", action="store_true", help="only the CPU bank check")
    args = parser.parse_args()
    check_banks()
    if args.banks:
        return
    run(args.rounds, args.budget)


def run(rounds: int, budget_s: float) -> None:
    import torch

    from grader.runtime import timing
    from reference import smem_transpose as ref

    began = time.perf_counter()
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    x = ref.make_inputs({"M": M, "N": N}, gen)["x"]  # (M, N)
    found = candidates()
    status = check_all(found, x, gen)  # compiles every plan and torch.compile's kernel
    out_dir().joinpath("transpose_sweep_checks.json").write_text(json.dumps(status, indent=1))
    copy_bw = timing.copy_bandwidth()  # bytes/s, read + written: the grader's speed of light
    src = torch.empty(M * N, device=DEVICE)  # (M*N,): the same bytes as the bench case
    dst = torch.empty_like(src)
    calls = {"copy (same bytes)": lambda: dst.copy_(src)}
    calls |= {n: (lambda f=c[0]: f(x)) for n, c in found.items() if status[n].get("bench_exact")}
    left = budget_s - (time.perf_counter() - began)
    samples = time_round_robin(calls, rounds, max(left, 5.0))
    rows = summarize(samples, status, found, copy_bw)
    report(rows, copy_bw, time.perf_counter() - began)


def summarize(samples, status, found, copy_bw) -> list[dict]:
    moved = 2 * M * N * 4
    copy_ms = statistics.median(samples.pop("copy (same bytes)"))
    rows = []
    for name, (_, plan, _) in found.items():
        row = {"name": name, **status[name]}
        if plan is not None:
            row["plan"] = dataclasses.asdict(plan)
            row |= kernel_facts(plan) if "error" not in row else {}
        if name in samples:
            xs = samples[name]
            med = statistics.median(xs)
            row |= {"median_ms": med, "min_ms": min(xs), "samples": len(xs)}
            row |= {"tb_s": moved / med / 1e9, "fraction": moved / (med * 1e-3) / copy_bw}
            row["fraction_of_copy_same_bytes"] = copy_ms / med
        rows.append(row)
    rows.sort(key=lambda r: -r.get("fraction", 0.0))
    return rows


def report(rows: list[dict], copy_bw: float, elapsed: float) -> None:
    import torch

    shipped = next((r["name"] for r in rows if r.get("plan") == dataclasses.asdict(sol.PLAN)), None)
    compiled = next((r for r in rows if r["name"] == "torch.compile(reference)"), {})
    result = {
        "device": torch.cuda.get_device_name(),
        "case": {"M": M, "N": N},
        "copy_tb_s": copy_bw / 1e12,
        "gold": 0.9,
        "shipped_plan": dataclasses.asdict(sol.PLAN),
        "shipped_name": shipped,
        "torch_compile_fraction": compiled.get("fraction"),
        "elapsed_s": elapsed,
        "rows": rows,
    }
    out = out_dir()
    (out / "transpose_sweep.json").write_text(json.dumps(result, indent=1))
    print(f"\n{result['device']}: copy {copy_bw / 1e12:.2f} TB/s; {elapsed:.0f} s")
    print(f"{'candidate':<44} {'ms':>7} {'TB/s':>6} {'of copy':>7}  exact  regs")
    for r in rows:
        mark = " <- PLAN" if r["name"] == shipped else ""
        exact_ok = r.get("bench_exact") and r.get("ragged_exact", True)
        if "fraction" not in r:
            print(f"{r['name']:<44} not timed: {r.get('error') or 'not exact'}")
            continue
        print(
            f"{r['name']:<44} {r['median_ms']:7.3f} {r['tb_s']:6.2f} {r['fraction']:7.3f}"
            f"  {'yes' if exact_ok else 'NO ':<5} {r.get('num_regs', ''):>4}{mark}"
        )
    verdict(rows, compiled.get("fraction"))
    print(f"wrote {out / 'transpose_sweep.json'}")


def out_dir() -> Path:
    out = Path(os.environ.get("OUT", "/tmp/out"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def verdict(rows: list[dict], compiled: float | None) -> None:
    """One line: the fastest exact candidate against gold and against torch.compile."""
    ours = [r for r in rows if "plan" in r and r.get("ragged_exact") and "fraction" in r]
    if not ours:
        print("no exact float4 candidate was timed")
        return
    best = ours[0]  # rows are sorted fastest first
    beats = "n/a" if compiled is None else f"{best['fraction'] > compiled} ({compiled:.3f})"
    print(
        f"best float4 candidate: {best['name']} at {best['fraction']:.3f} of copy; gold (0.9): "
        f"{best['fraction'] >= 0.9}; beats torch.compile: {beats}; its Plan: {best['plan']}"
    )


if __name__ == "__main__":
    main()
