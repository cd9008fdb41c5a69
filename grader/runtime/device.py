"""What this machine offers a check: CUDA GPUs, and Triton's interpreter when it has none."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

GPUS_NEEDED = {"cpu": 0, "gpu": 1, "multi_gpu": 2}  # problem.toml's `needs` values


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def best_device(offered: Iterable[str]) -> str | None:
    """The most demanding of `offered` (cpu | gpu | multi_gpu) this machine can run."""
    have = cuda_count()
    usable = [d for d in offered if GPUS_NEEDED[d] <= have]
    return max(usable, key=GPUS_NEEDED.__getitem__, default=None)


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def enable_interpreter_if_no_gpu() -> None:
    """Triton reads TRITON_INTERPRET at import: call this before anything imports triton."""
    if cuda_count() == 0 and "triton" not in sys.modules:
        os.environ["TRITON_INTERPRET"] = "1"


def programmatic_launch(device) -> bool:
    """Whether a Triton kernel on `device` (a torch.device) may be launched early by its
    predecessor (programmatic dependent launch: launch_pdl=True, gdc_wait in the kernel): a
    CUDA device of compute capability 9.0 or newer (Hopper) and a Triton with grid dependency
    control. Call it after triton is imported."""
    import torch

    if device.type != "cuda" or torch.version.hip:
        return False
    try:
        from triton.language.extra.cuda import gdc_wait  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.get_device_capability(device)[0] >= 9
