"""wmma_gemm on one GPU in one call: every kernel of solutions/wmma_gemm (cupy.KERNELS) checked,
the aligned (cp.async) ones on the problem's aligned fixed cases and the bench shapes, the
fallback on every fixed case and some unaligned ones; then the aligned ones timed round-robin
with torch.matmul (cuBLAS) at 4096^3 and 8192^3. Not grading. To compare a variant, add its
instantiation to wmma_gemm.cu and its Tile to KERNELS (the shipped FAST and SMALL compare as is).

Usage (repository root; about 30-60 s on an H200, most of it the one NVRTC compile):
    PYTHONPATH=$PWD OUT=/tmp/out python3 scripts/gpu_wmma_sweep.py [--rounds 20]
Writes $OUT/wmma_sweep.json and prints a table, best first: TFLOP/s as a fraction of cuBLAS in
the same run per size, the score (the worse of the two, as `dojo bench` scores; gold is 0.5),
registers and local-memory bytes as NVRTC built them, resident CTAs per SM, the check verdict;
then the fallback's verdict. `*` marks the shipped default (solutions/wmma_gemm/cupy.py's FAST).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.problem.registry import get_problem  # noqa: E402
from grader.runtime import timing  # noqa: E402
from problems.wmma_gemm.hooks import WmmaGemmHooks  # noqa: E402
from reference import wmma_gemm as ref  # noqa: E402
from solutions.wmma_gemm import cupy as gemm  # noqa: E402

SIZES = (4096, 8192)
CUBLAS = "torch.matmul"
EXTRA_CASES = [  # aligned, none a multiple of any tile: K below one slice, M below one tile
    {"M": 257, "N": 136, "K": 24},
    {"M": 33, "N": 520, "K": 4104},
    {"M": 1000, "N": 8, "K": 200},
]
UNALIGNED_CASES = [  # for the fallback: odd K or N, an offset base, a long K
    {"M": 70, "N": 33, "K": 2049},
    {"M": 257, "N": 136, "K": 24, "offset": 1},
    {"M": 1, "N": 4095, "K": 7, "offset": 1},
    {"M": 513, "N": 3, "K": 1000, "values": "positive"},
]


def fast_kernels() -> list[str]:
    return [name for name, tile in gemm.KERNELS.items() if tile.aligned]


def run(name: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.matmul(a, b) if name == CUBLAS else gemm._matmul(gemm.SOURCE, a, b, kernel=name)


def compile_all() -> dict[str, dict]:
    """One NVRTC compile of wmma_gemm.cu, then each kernel's build facts from the driver."""
    began = time.perf_counter()
    gemm.SOURCE.module  # noqa: B018 - compiles every kernel of the file
    facts = {"compile_s": round(time.perf_counter() - began, 2)}
    for name in fast_kernels():
        tile = gemm.KERNELS[name]
        fn = gemm.compiled(gemm.SOURCE, name)
        facts[name] = {
            "regs": getattr(fn, "num_regs", None),
            "local_bytes": getattr(fn, "local_size_bytes", None),  # > 0: spills
            "smem_bytes": tile.smem_bytes,
            "ctas_per_sm": _occupancy(fn, tile),
        }
    return facts


def _occupancy(fn, tile: gemm.Tile) -> int | None:
    try:
        from cupy.cuda import driver

        return driver.occupancyMaxActiveBlocksPerMultiprocessor(
            fn.kernel.ptr, tile.threads, tile.smem_bytes
        )
    except Exception:  # noqa: BLE001 - a fact for the table only; absent on old CuPy
        return None


def check_all(names: list[str]) -> None:
    """Each aligned kernel on the problem's aligned fixed cases (tails in M, N and K, K = 8192 of
    positive values), a few more tails and both bench shapes; the fallback on every fixed case,
    the extra tails and the unaligned cases. One JSON line per kernel with 'ok' or the first
    mismatch. Runs in a child process (see checked)."""
    hooks = WmmaGemmHooks(get_problem("wmma_gemm"))
    fixed = get_problem("wmma_gemm").cases
    aligned = (
        [c for c in fixed if _aligned(c)] + EXTRA_CASES + [{"M": s, "N": s, "K": s} for s in SIZES]
    )
    checks = {}  # repr(case) -> (case, inputs, fp32-accumulated reference), made once
    for case in [*aligned, *fixed, *EXTRA_CASES, *UNALIGNED_CASES]:
        if repr(case) not in checks:
            args = ref.make_inputs(case, torch.Generator(device="cuda").manual_seed(0))
            checks[repr(case)] = (case, args, ref.matmul(**args))
    for name in names:
        cases = aligned if gemm.KERNELS[name].aligned else fixed + EXTRA_CASES + UNALIGNED_CASES
        verdict = "ok"
        for case, args, expected in (checks[repr(c)] for c in cases):
            try:
                hooks.compare(run(name, **args), expected, args)
            except (AssertionError, ValueError) as e:
                verdict = f"{case}: {str(e).splitlines()[0]}"
                break
        print(json.dumps({"kernel": name, "check": verdict}), flush=True)


def checked(names: list[str]) -> dict[str, str]:
    """check_all in child processes: a kernel that faults (a sticky CUDA error ends its
    process) or hangs is marked so and the rest are checked in a fresh child; nothing this
    process times has not passed."""
    verdicts: dict[str, str] = {}
    while todo := [n for n in names if n not in verdicts]:
        stdout, failure = _child([sys.executable, __file__, "--check", *todo])
        for line in stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                verdicts[row["kernel"]] = row["check"]
                print(f"check {row['kernel']:27s} {row['check']}", flush=True)
        if failure:
            name = next(n for n in todo if n not in verdicts)
            verdicts[name] = failure
            print(f"check {name:27s} {failure}", flush=True)
    return verdicts


def _child(cmd: list[str], timeout_s: float = 180) -> tuple[str, str | None]:
    """(stdout, None) when cmd exits 0, else (stdout so far, 'crashed: <last stderr line>' or
    'hung: ...')."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
        return out, f"hung: no result within {timeout_s:.0f} s"
    if proc.returncode == 0:
        return proc.stdout, None
    last = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
    return proc.stdout, f"crashed: {last[:300]}"


def _aligned(case: dict) -> bool:
    return case["K"] % 8 == 0 and case["N"] % 8 == 0 and case.get("offset", 0) == 0


def time_size(size: int, names: list[str], rounds: int) -> dict[str, float]:
    """Median ms per kernel; one sample of each per round (flushed L2, launch behind a spin
    kernel: grader.runtime.timing), so a clock or thermal drift hits all of them alike."""
    g = torch.Generator(device="cuda").manual_seed(size)
    a = torch.randn(size, size, generator=g, device="cuda").half()  # (M, K)
    b = torch.randn(size, size, generator=g, device="cuda").half()  # (K, N)
    for name in names:  # warm-up: first-launch costs out of the samples
        run(name, a, b)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            ms, out = timing.sample_gpu(lambda name=name: run(name, a, b))
            samples[name].append(ms)
            del out
    return {name: statistics.median(xs) for name, xs in samples.items()}


def table(rows: list[dict]) -> str:
    lines = [f"  {'kernel':27s} {'4096 frac':>9s} {'8192 frac':>9s} {'score':>6s} regs local ctas"]
    for r in rows:
        f = r["fraction"] or {"4096": math.nan, "8192": math.nan}
        lines.append(
            f"{'*' if r['shipped'] else ' '} {r['kernel']:27s} {f['4096']:9.3f} {f['8192']:9.3f} "
            f"{r['score'] or math.nan:6.3f} "
            f"{r['regs']!s:>4} {r['local_bytes']!s:>5} {r['ctas_per_sm']!s:>4} {r['check']}"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--check", nargs="+", metavar="KERNEL", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.check:
        return check_all(args.check)
    out = Path(os.environ.get("OUT", "/tmp/out"))
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    facts = compile_all()
    print(f"NVRTC compile: {facts['compile_s']} s", flush=True)
    verdicts = checked(list(gemm.KERNELS))
    passed = [n for n in fast_kernels() if verdicts[n] == "ok"]
    ms = {str(s): time_size(s, [CUBLAS, *passed], args.rounds) for s in SIZES}
    rows = [row(name, verdicts[name], ms if name in passed else None, facts) for name in passed]
    rows.sort(key=lambda r: -r["score"])
    rows += [row(n, verdicts[n], None, facts) for n in fast_kernels() if n not in passed]
    cublas = {s: 2 * int(s) ** 3 / (ms[s][CUBLAS] * 1e-3) / 1e12 for s in ms}
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "rounds": args.rounds,
        "compile_s": facts["compile_s"],
        "cublas_tflops": cublas,
        "shipped": gemm.FAST,
        "kernels": rows,
        "fallback": {"kernel": gemm.ANY, "check": verdicts[gemm.ANY]},
        "wall_s": round(time.perf_counter() - began, 1),
    }
    (out / "wmma_sweep.json").write_text(json.dumps(result, indent=1))
    print(f"cuBLAS TFLOP/s: {', '.join(f'{s}: {v:.0f}' for s, v in cublas.items())}")
    print(table(rows))
    print(f"  fallback {gemm.ANY}: {verdicts[gemm.ANY]}")
    print(f"* shipped: {gemm.FAST}; wrote {out / 'wmma_sweep.json'} in {result['wall_s']} s")


def row(name: str, check: str, ms: dict[str, dict[str, float]] | None, facts: dict) -> dict:
    """One kernel's result; fractions are cuBLAS time over kernel time (the same FLOPs)."""
    out = {"kernel": name, "shipped": name == gemm.FAST, "check": check, **facts[name]}
    if ms is None:  # failed its check: not timed
        return {**out, "ms": None, "tflops": None, "fraction": None, "score": None}
    frac = {s: ms[s][CUBLAS] / ms[s][name] for s in ms}
    tflops = {s: 2 * int(s) ** 3 / (ms[s][name] * 1e-3) / 1e12 for s in ms}
    ms_k = {s: ms[s][name] for s in ms}
    return {**out, "ms": ms_k, "tflops": tflops, "fraction": frac, "score": min(frac.values())}


if __name__ == "__main__":
    main()
