"""CUDA C kernels for the CUDA problems: a .cu file compiled once with CuPy (NVRTC) for this
GPU, launched with an explicit grid and block on torch tensors shared through DLPack."""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from grader.runtime.errors import ImplLoadError, NotAttempted

STUB_MARKER = "DOJO_STUB"
CUDA_FAULT = re.compile(  # what a kernel fault looks like in an exception message
    r"illegal memory access|unspecified launch failure|misaligned address|"
    r"illegal instruction|CUDA_ERROR_(ILLEGAL|LAUNCH|MISALIGNED)",
    re.I,
)


def cuda_include() -> str:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    return str(Path(home) / "include")


class CudaSource:
    """One .cu file. Kernels compile on first use, so importing a launcher needs no GPU."""

    def __init__(
        self,
        path: str | Path,
        options: tuple[str, ...] = (),
        extra: str = "",
        patches: tuple[tuple[str, str], ...] = (),
    ):
        self.path = Path(path)
        self.options = options
        self.extra = extra  # appended source, e.g. a probe kernel that tests one device function
        self.patches = patches  # (old, new) text replacements: how known-wrong variants are made

    @property
    def text(self) -> str:
        text = self.path.read_text()
        for old, new in self.patches:
            if old not in text:
                raise ImplLoadError(f"{self.path.name}: patch target not found: {old[:60]!r}")
            text = text.replace(old, new)
        return text + self.extra

    def with_extra(self, extra: str) -> CudaSource:
        return CudaSource(self.path, self.options, self.extra + extra, self.patches)

    def patched(self, old: str, new: str) -> CudaSource:
        """This source with one bug planted: the text `old` replaced by `new` (must exist)."""
        return CudaSource(self.path, self.options, self.extra, (*self.patches, (old, new)))

    def check_started(self) -> None:
        if STUB_MARKER in self.text:
            raise NotAttempted(
                f"{self.path.name} still contains the {STUB_MARKER} line: write "
                "the kernel, then delete that line"
            )

    @cached_property
    def module(self) -> Any:
        self.check_started()
        import cupy

        major, minor = torch.cuda.get_device_capability()
        opts = ("-std=c++17", f"-I{cuda_include()}", "-DNDEBUG", *self.options)
        try:
            mod = cupy.RawModule(code=self.text, options=opts)
            mod.compile()
        except cupy.cuda.compiler.CompileException as e:
            raise ImplLoadError(
                f"{self.path.name}: {_first_error(str(e), self.path.name)}"
            ) from None
        return mod

    def kernel(self, name: str, max_dynamic_smem: int = 0) -> Any:
        try:
            k = self.module.get_function(name)
        except Exception as e:  # noqa: BLE001 - CuPy raises a bare CUDADriverError here
            raise ImplLoadError(
                f"{self.path.name}: no kernel named '{name}' (declare it "
                f'extern "C" __global__): {e}'
            ) from None
        if max_dynamic_smem:
            k.max_dynamic_shared_size_bytes = max_dynamic_smem
        return k


def _first_error(log: str, name: str) -> str:
    """The compiler's first `error:` line, with the temp file name replaced by the real one."""
    log = re.sub(r"\S*kern\.cu", name, log)
    errors = [ln.strip() for ln in log.splitlines() if "error" in ln]
    return (errors or [log.strip().splitlines()[0] if log.strip() else "compile error"])[0][:400]


def launch(
    kernel: Any, grid: tuple[int, ...], block: tuple[int, ...], args: tuple, shared_mem: int = 0
) -> None:
    """Launch on torch's current stream; tensors go through DLPack (zero copy)."""
    import cupy

    converted = tuple(cupy.from_dlpack(a) if isinstance(a, torch.Tensor) else a for a in args)
    with _current_stream(cupy):
        kernel(grid, block, converted, shared_mem=shared_mem)


class _StreamRef:
    """The CUDA stream protocol (`__cuda_stream__` -> (version, cudaStream_t)) for a pointer."""

    def __init__(self, ptr: int):
        self.ptr = ptr

    def __cuda_stream__(self) -> tuple[int, int]:
        return (0, self.ptr)


def _current_stream(cupy: Any) -> Any:
    """torch's current stream as a CuPy stream (CuPy 14: from_external; older: by pointer)."""
    ptr = torch.cuda.current_stream().cuda_stream
    if hasattr(cupy.cuda.Stream, "from_external"):
        return cupy.cuda.Stream.from_external(_StreamRef(ptr))
    return cupy.cuda.ExternalStream(ptr)
