"""CUDA C kernels for the CUDA problems: a .cu file compiled once with CuPy (NVRTC) for this
GPU, launched with an explicit grid and block on torch tensors shared through DLPack."""

from __future__ import annotations

import math
import operator
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
            if CUDA_FAULT.search(str(e)):  # an earlier kernel's fault, not a missing name
                raise RuntimeError(f"a kernel launched before this one faulted: {e}") from None
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


# CUDA's launch limits (compute capability 5.0 and later): a launch past them fails with
# CUDA_ERROR_INVALID_VALUE ("invalid argument"), which names none of them
GRID_LIMITS = (2**31 - 1, 65535, 65535)
BLOCK_LIMITS = (1024, 1024, 64)
MAX_THREADS = 1024
INVALID_LAUNCH = re.compile(
    r"CUDA_ERROR_INVALID_VALUE|invalid argument|invalid configuration", re.I
)
LIMITS_HINT = (
    "a launch past CUDA's limits fails this way: gridDim.x <= 2^31 - 1, gridDim.y and "
    "gridDim.z <= 65535, at most 1024 threads per block, shared memory per block within "
    "the device's (48 KB unless the kernel opts in to more)"
)


def check_launch(grid: tuple[int, ...], block: tuple[int, ...]) -> None:
    """ValueError naming the limit a grid or block breaks, before the driver says only
    'invalid argument'."""
    for kind, dims, limits in (("grid", grid, GRID_LIMITS), ("block", block, BLOCK_LIMITS)):
        if not 1 <= len(dims) <= 3 or not all(_positive_int(d) for d in dims):
            raise ValueError(f"{kind} {dims}: give 1 to 3 positive ints (x, y, z)")
        dims = tuple(map(operator.index, dims))  # numpy ints print as plain ones below
        for axis, d, limit in zip("xyz", dims, limits):
            if d > limit:
                fold = kind == "grid" and axis != "x"
                fix = ": index with blockIdx.x (a 1-D grid reaches 2^31 - 1 blocks)" if fold else ""
                raise ValueError(
                    f"{kind}Dim.{axis} = {d:,} is over CUDA's limit of {limit:,} for {kind} "
                    f"{dims}{fix}"
                )
    threads = math.prod(map(operator.index, block))
    if threads > MAX_THREADS:
        raise ValueError(f"block {tuple(block)} has {threads:,} threads; CUDA allows 1,024")


def _positive_int(d: Any) -> bool:
    try:
        return operator.index(d) >= 1 and not isinstance(d, bool)
    except TypeError:
        return False


def launch(
    kernel: Any, grid: tuple[int, ...], block: tuple[int, ...], args: tuple, shared_mem: int = 0
) -> None:
    """Launch on torch's current stream; tensors go through DLPack (zero copy). A grid or block
    past CUDA's limits is refused first, naming the limit."""
    check_launch(tuple(grid), tuple(block))
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
