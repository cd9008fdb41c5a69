"""`dojo bench --ncu`: hardware counters (DRAM traffic, bank conflicts, tensor-pipe use) for the
kernels one call of an implementation launches, read with Nsight Compute where it exists."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from typing import Any

from grader.problem.impls import resolve
from grader.problem.spec import Problem
from grader.runtime.errors import ImplLoadError
from grader.runtime.paths import ROOT

METRICS = (
    "gpu__time_duration.sum",
    "dram__bytes_read.sum",
    "dram__bytes_write.sum",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
    "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum",
    "smsp__sass_inst_executed_op_shared_ld.sum",
    "smsp__sass_inst_executed_op_shared_st.sum",
    "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active",
    "launch__registers_per_thread",
)


def ncu_report(problem: Problem, impl: str, timeout: float = 600) -> dict[str, Any]:
    """{kernel name: {metric: value}} for one profiled call on the first benchmark case."""
    ncu = shutil.which("ncu")
    if ncu is None:
        return {"status": "unavailable", "message": "ncu not found on PATH"}
    try:
        ref = resolve(problem, impl)
    except ImplLoadError as e:
        return {"status": "error", "message": str(e)}
    spec = ref.cli_arg
    cmd = [
        ncu,
        "--clock-control",
        "none",
        "--profile-from-start",
        "off",
        "--csv",
        "--metrics",
        ",".join(METRICS),
        sys.executable,
        "-m",
        "grader.perf.ncu_target",
        problem.slug,
        spec,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "message": f"ncu did not finish within {timeout:g} s"}
    kernels = parse_csv(proc.stdout)
    if not kernels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "error", "message": " | ".join(tail)[:400]}
    for metrics in kernels.values():
        metrics.update(extra_wavefronts(metrics))
    return {"status": "measured", "kernels": kernels}


def extra_wavefronts(m: dict[str, float | str]) -> dict[str, float]:
    """Shared-memory wavefronts beyond one per instruction: what bank conflicts (and sharing
    the L1 data pipe with global loads) cost the kernel. On an H100 the conflict-free padded
    transpose shows 0.12 extra per load inside the real kernel but 0 when its layout runs alone
    one block per SM (results/h100_ncu_smem_banks.txt); an unpadded tile shows 31."""
    out = {}
    for op in ("ld", "st"):
        waves = m.get(f"l1tex__data_pipe_lsu_wavefronts_mem_shared_op_{op}.sum")
        insts = m.get(f"smsp__sass_inst_executed_op_shared_{op}.sum")
        if isinstance(waves, float) and isinstance(insts, float):
            out[f"shared_{op}_extra_wavefronts"] = waves - insts
    return out


def parse_csv(text: str) -> dict[str, dict[str, float | str]]:
    """ncu --csv rows (one per kernel and metric) → {"<id> <kernel>": {metric: value}}."""
    start = text.find('"ID"')
    if start < 0:
        return {}
    kernels: dict[str, dict[str, float | str]] = {}
    for row in csv.DictReader(io.StringIO(text[start:])):
        name = f"{row.get('ID', '?')} {row.get('Kernel Name', '?')[:60]}"
        value = row.get("Metric Value", "").replace(",", "")
        try:
            parsed: float | str = float(value)
        except ValueError:
            parsed = value
        kernels.setdefault(name, {})[row.get("Metric Name", "?")] = parsed
    return kernels
