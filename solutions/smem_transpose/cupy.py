"""Tiled matrix transpose in CUDA C through a bank-conflict-free shared-memory tile, via CuPy.

Idea: a tile of 32 x 32 floats is read from rows of x (coalesced 128-byte lines) into shared
memory, the block synchronises, and the tile is read back down its columns to write rows of
out (coalesced again). Global memory only ever sees whole lines; the transpose itself happens
in shared memory, where a column read would put all 32 lanes in one bank (32 wavefronts)
unless each tile row is padded by one word, which spreads a column over all 32 banks.
smem_offset() below is that layout; smem_transpose.cu implements the same formula and is
compiled with this module's TILE and SMEM_WORDS.
Two kernels use it. transpose_kernel is the textbook one: a (32, 8) block per tile, 4-byte
accesses, any shape and alignment. When M and N are multiples of 4 and x is 16-byte aligned,
transpose_vec4 moves 4 consecutive floats per global access (16 bytes) and a region of several
tiles per 256-thread block, so more bytes are in flight per block (PLAN below picks the region,
the block order, and whether a persistent grid prefetches its next region while writing).
Its shared-memory accesses stay 4-byte and conflict-free in the same padded layout (the .cu
works the bank arithmetic through).
Memory traffic: read M*N floats, write M*N floats, once each (8MN bytes), the minimum.
Limits: float32, contiguous x, M and N below 2^31. Speed on an H200 (16384 x 16384): the
scalar kernel 0.811 of copy bandwidth, the shipped float4 plan 0.947 (torch.compile 0.915 in
the same run); scripts/gpu_transpose_sweep.py measures every plan against torch.compile.
Run it: `dojo check smem_transpose --impl solution` (layout and PTX checks on CPU; values
need a GPU), `dojo bench smem_transpose --impl solution`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

TILE = 32
ROWS = 8  # blockDim.y of transpose_kernel; must match ROWS in the .cu
SMEM_WORDS = TILE * (TILE + 1)  # 1056 words (4224 bytes): the tile plus one pad word per row
VEC = 4  # floats per 16-byte access of the float4 kernels
VEC_THREADS = TILE * TILE // VEC  # 256: one thread per float4 of a tile


def smem_offset(row: int, col: int) -> int:
    """Word offset of tile element (row, col): rows are TILE + 1 words apart."""
    return row * (TILE + 1) + col


@dataclass(frozen=True, slots=True)
class Plan:
    """How the float4 kernel covers x: each block moves tile_rows x tile_cols tiles (that many
    16-byte loads in flight per thread); blocks take regions in groups of `group` region rows,
    column by column (1 = row-major); `persistent` launches about one wave of blocks that each
    prefetch their next region while writing the current one; `streaming` marks loads and
    stores evict-first (ld/st.global.cs)."""

    tile_rows: int = 2
    tile_cols: int = 2
    group: int = 8
    persistent: bool = False
    streaming: bool = False

    def __post_init__(self):
        tiles = self.tile_rows * self.tile_cols
        if min(self.tile_rows, self.tile_cols) < 1 or tiles * SMEM_WORDS * 4 > 48 * 1024:
            raise ValueError(
                f"tile_rows and tile_cols must be >= 1 with at most 11 tiles in all (48 KB of "
                f"static shared memory), got {self.tile_rows} x {self.tile_cols}"
            )
        if not 1 <= self.group <= 1024:
            raise ValueError(f"group must be in 1..1024, got {self.group}")

    def options(self) -> tuple[str, ...]:
        return (
            f"-DVEC_TILE_ROWS={self.tile_rows}",
            f"-DVEC_TILE_COLS={self.tile_cols}",
            f"-DVEC_STREAM={int(self.streaming)}",
        )


# The float4 kernel shipped (scripts/gpu_transpose_sweep.py times the alternatives): to switch,
# change this one line.
PLAN = Plan(tile_rows=2, tile_cols=2, group=1024, persistent=False, streaming=False)


def layout_source(path: Path, smem_words: int, plan: Plan = PLAN) -> CudaSource:
    """A .cu compiled with the module's tile size, shared-memory words and plan as macros."""
    return CudaSource(
        path, options=(f"-DTILE={TILE}", f"-DSMEM_WORDS={smem_words}", *plan.options())
    )


SOURCE = layout_source(Path(__file__).with_name("smem_transpose.cu"), SMEM_WORDS)


def transpose(x: torch.Tensor) -> torch.Tensor:
    return _transpose(SOURCE, x)


def _transpose(source: CudaSource, x: torch.Tensor, plan: Plan = PLAN) -> torch.Tensor:
    if not (x.is_cuda and x.dtype == torch.float32 and x.dim() == 2):
        raise ValueError(
            f"x must be a 2-D float32 CUDA tensor, got {tuple(x.shape)} {x.dtype} on {x.device}"
        )
    if not x.is_contiguous():  # the kernel indexes x as row-major with row stride N
        raise ValueError(f"x must be contiguous, got strides {x.stride()}: pass x.contiguous()")
    M, N = x.shape
    if max(M, N) >= 2**31:
        raise ValueError(f"M and N must be below 2^31, got ({M}, {N})")
    out = torch.empty((N, M), dtype=x.dtype, device=x.device)  # (N, M)
    if M % VEC == 0 and N % VEC == 0 and x.data_ptr() % 16 == 0 and out.data_ptr() % 16 == 0:
        _launch_vec4(source, plan, x, out)  # every row of x and of out starts 16-byte aligned
    else:
        _launch_scalar(source, x, out)
    return out


def _launch_scalar(source: CudaSource, x: torch.Tensor, out: torch.Tensor) -> None:
    M, N = x.shape
    tiles_n = -(-N // TILE)
    tiles = -(-M // TILE) * tiles_n  # one block per 32 x 32 tile, ragged edge tiles included
    args = (x, out, np.int32(M), np.int32(N), np.int32(tiles_n))
    launch(source.kernel("transpose_kernel"), (tiles,), (TILE, ROWS), args)


def _launch_vec4(source: CudaSource, plan: Plan, x: torch.Tensor, out: torch.Tensor) -> None:
    M, N = x.shape
    regions_m, regions_n = -(-M // (TILE * plan.tile_rows)), -(-N // (TILE * plan.tile_cols))
    regions = regions_m * regions_n  # one per block (or per loop trip), ragged edges included
    if regions >= 2**30:  # the kernel's 32-bit region arithmetic, with room for b + gridDim.x
        raise ValueError(f"({M}, {N}) needs {regions} regions, more than this launcher handles")
    group = min(plan.group, regions_m, (2**31 - 1) // regions_n)  # group * regions_n < 2^31
    args = (x, out, np.int32(M), np.int32(N), np.int32(group))
    if not plan.persistent:
        launch(source.kernel("transpose_vec4"), (regions,), (VEC_THREADS,), args)
        return
    kernel = source.kernel("transpose_vec4_persistent")
    grid = min(regions, _resident_blocks(kernel, x.device))
    launch(kernel, (grid,), (VEC_THREADS,), (*args, np.int32(regions)))


def _resident_blocks(kernel, device: torch.device) -> int:
    """Blocks of VEC_THREADS that fit on the GPU at once: one wave for the persistent grid, so
    no block waits for another to finish. Registers and shared memory per block from the
    compiled kernel; 64K registers, 2048 threads and 228 KB of shared memory per SM (sm_80+)."""
    attrs = kernel.attributes
    regs = -(-attrs["num_regs"] * 32 // 256) * 256 * (VEC_THREADS // 32)  # per block, rounded
    smem = attrs["shared_size_bytes"] + 1024  # the runtime reserves 1 KB per block
    per_sm = min(2048 // VEC_THREADS, 65536 // regs, 228 * 1024 // smem, 32)
    return max(per_sm, 1) * torch.cuda.get_device_properties(device).multi_processor_count
