"""`dojo doctor`: what this machine can run, with the GPU's copy bandwidth and cuBLAS rate
measured on the spot; also which checks of a problem run here."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import shutil
import subprocess
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.problem.spec import Problem


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _cupy_version() -> str | None:
    for dist in ("cupy-cuda12x", "cupy-cuda13x", "cupy-cuda11x", "cupy"):
        if v := _version(dist):
            return f"{v} ({dist})"
    return None


def _tool(name: str) -> str | None:
    path = shutil.which(name)
    if path is None:
        return None
    try:
        text = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return path
    release = [ln for ln in text.splitlines() if "release" in ln or "Version" in ln]
    return f"{path} ({release[-1].strip()})" if release else path


def capabilities() -> dict[str, Any]:
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {
        "gpus": gpus,
        "nvcc": shutil.which("nvcc") is not None,
        "cupy": _cupy_version() is not None,
    }


def runs_here(p: Problem, caps: dict[str, Any]) -> str:
    """A short 'where it runs' for `dojo list`."""
    need = {"cpu": 0, "gpu": 1, "multi_gpu": 2}
    correct = caps["gpus"] >= need[p.needs["correctness"]]
    perf = any(caps["gpus"] >= need[d] for d in p.perf)
    if correct and perf:
        return "all"
    if correct:
        return "check (perf: 2+ GPUs)" if set(p.perf) == {"multi_gpu"} else "check (perf: GPU)"
    static = " (+PTX)" if p.static and caps["nvcc"] else ""
    return f"needs GPU{static}"


def facts(measure: bool = True) -> dict[str, Any]:
    import torch

    f: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "triton": _version("triton"),
        "cupy": _cupy_version(),
        "nvcc": _tool("nvcc"),
        "ncu": shutil.which("ncu"),
        "cuda_available": torch.cuda.is_available(),
        "triton_mode": "GPU" if torch.cuda.is_available() else "interpreter (TRITON_INTERPRET=1)",
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        f["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        f["compute_capability"] = f"{props.major}.{props.minor}"
        f["sms"] = props.multi_processor_count
        f["memory_gib"] = round(props.total_memory / 2**30, 1)
        if measure:
            from grader.runtime import timing

            f["copy_bandwidth_tbs"] = round(timing.copy_bandwidth() / 1e12, 3)
            f["cublas_fp16_4096_tflops"] = round(
                timing.cublas_flops(4096, 4096, 4096, torch.float16) / 1e12, 1
            )
    return f


def print_facts(console: Console, f: dict[str, Any], problems: list[Problem]) -> None:
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    missing = {
        "cupy": "not installed: pip install -e '.[gpu]' on a CUDA machine",
        "nvcc": "not found: CUDA problems get no PTX static checks here",
        "ncu": "not found: no hardware counters (dojo bench --ncu)",
    }
    for key, value in f.items():
        shown = value if value not in (None, []) else missing.get(key, "—")
        table.add_row(key.replace("_", " "), Text(str(shown)))
    console.print(table)
    caps = {"gpus": len(f.get("gpus", [])), "nvcc": bool(f.get("nvcc")), "cupy": bool(f["cupy"])}
    runs = Table(header_style="bold", title="what runs here")
    for col in ("problem", "correctness", "perf"):
        runs.add_column(col)
    need = {"cpu": 0, "gpu": 1, "multi_gpu": 2}
    for p in problems:
        ok = caps["gpus"] >= need[p.needs["correctness"]]
        perf = [d for d in p.perf if caps["gpus"] >= need[d]]
        runs.add_row(
            p.slug,
            "here" if ok else runs_here(p, caps),
            f"here ({perf[0]})" if perf else "needs GPU",
        )
    console.print(runs)
