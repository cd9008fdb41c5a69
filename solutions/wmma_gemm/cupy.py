"""fp16 GEMM on the Tensor Cores (mma.sync m16n8k16, fp32 accumulation), launched via CuPy.

Idea: a CTA computes a 256 x 128 tile of C with 8 warps of 64 x 64; a 3-stage cp.async
pipeline streams 256 x 64 slices of A and 64 x 128 slices of B into padded shared memory
(row pitch + 16 bytes makes every ldmatrix conflict-free), ldmatrix feeds the fragments (the
next k step's while the current one's mma run) and each warp issues 32 mma.sync per 16-wide
k step. Arithmetic intensity per CTA tile: 2*256*128*64 FLOP per (256+128)*64*2 bytes = 85
FLOP/byte from L2, so the loop is bound by the Tensor Cores, not by memory (ncu: DRAM 13%
busy). Grouped rasterisation keeps B panels in L2.
Limits: mma.sync is the Ampere instruction; Hopper's cuBLAS uses wgmma + TMA, which this
problem does not ask for, so expect about half of cuBLAS. The fast path needs K % 8 == 0,
N % 8 == 0 and 16-byte-aligned bases (cp.async moves 16 bytes); anything else takes a
64 x 64 kernel with guarded element loads.
Candidates (CANDIDATES, aligned inputs only, picked by name: `_matmul(SOURCE, a, b, kernel=)`):
XOR-swizzled unpadded shared memory (4 stages fit), the slice's wait + barrier one k16 step
early so no warp idles at a slice boundary, precomputed copy pointers; scripts/
gpu_wmma_sweep.py checks and times them all against cuBLAS in one run on a GPU.
Run it: `dojo check wmma_gemm --impl solution`, `dojo bench wmma_gemm --impl solution`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

SOURCE = CudaSource(Path(__file__).with_name("wmma_gemm.cu"))
SMEM_PER_SM = 228 * 1024  # H100/H200: 227 KiB usable by one CTA, 1 KiB reserved per CTA


@dataclass(frozen=True, slots=True)
class Tile:
    """One instantiation at the end of wmma_gemm.cu: the CTA tile, its threads and pipeline."""

    bm: int
    bn: int
    bk: int
    threads: int
    stages: int
    padded: bool = True  # Gemm's rows + 8 halves; False: SwizzledGemm's unpadded rows
    ctas_per_sm: int = 1  # the __launch_bounds__ minimum (registers are sized for it)

    def __post_init__(self):
        per_sm = self.ctas_per_sm * (self.smem_bytes + 1024)
        assert per_sm <= SMEM_PER_SM, f"{self}: {per_sm} bytes of shared memory per SM"

    @property
    def smem_bytes(self) -> int:
        pad = 8 if self.padded else 0
        return self.stages * (self.bm * (self.bk + pad) + self.bk * (self.bn + pad)) * 2


KERNELS = {  # kernel name -> its tile, as instantiated at the end of wmma_gemm.cu
    "hgemm_256x128x64_s3": Tile(256, 128, 64, 256, 3),
    "hgemm_128x256x64_s3": Tile(128, 256, 64, 256, 3),
    "hgemm_128x128x64_s3": Tile(128, 128, 64, 128, 3),
    "hgemm_64x64_any": Tile(64, 64, 32, 128, 2),
}
# Fast-path candidates (aligned inputs only): swizzled shared memory, the wait + barrier one
# k16 step early, precomputed copy pointers. scripts/gpu_wmma_sweep.py times them on a GPU.
CANDIDATES = {
    "sw_256x128x64_s3": Tile(256, 128, 64, 256, 3, padded=False),
    "sw_256x128x64_s4": Tile(256, 128, 64, 256, 4, padded=False),
    "sw_256x128x64_s4_split": Tile(256, 128, 64, 256, 4, padded=False),
    "sw_256x128x64_s4_g16": Tile(256, 128, 64, 256, 4, padded=False),
    "sw_128x256x64_s4": Tile(128, 256, 64, 256, 4, padded=False),
    "sw_128x256x64_s4_split": Tile(128, 256, 64, 256, 4, padded=False),
    "sw_256x128x32_s6": Tile(256, 128, 32, 256, 6, padded=False),
    "sw_128x256x32_s6": Tile(128, 256, 32, 256, 6, padded=False),
    "sw_256x128x128_s2": Tile(256, 128, 128, 256, 2, padded=False),
    "sw_128x128x64_s3_x2": Tile(128, 128, 64, 128, 3, padded=False, ctas_per_sm=2),
    "sw_128x128x32_s6_x2": Tile(128, 128, 32, 128, 6, padded=False, ctas_per_sm=2),
    "sw_256x128x64_s4_w64x32": Tile(256, 128, 64, 512, 4, padded=False),
    "sw_128x128x64_s3_w64x32_x2": Tile(128, 128, 64, 256, 3, padded=False, ctas_per_sm=2),
}
KERNELS |= CANDIDATES
FAST = "hgemm_256x128x64_s3"  # fastest on an H100 at 4096^3 and 8192^3 (scripts/sweep.py gemm)
SMALL = "hgemm_128x128x64_s3"  # twice the CTAs when the big tiles would not fill the GPU
ANY = "hgemm_64x64_any"


def smem_bytes(name: str) -> int:
    return KERNELS[name].smem_bytes


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(SOURCE, a, b)


def _matmul(source: CudaSource, a: torch.Tensor, b: torch.Tensor, kernel: str | None = None):
    assert a.dtype == b.dtype == torch.float16 and a.is_cuda and b.is_cuda
    assert a.is_contiguous() and b.is_contiguous() and a.shape[1] == b.shape[0]
    (m, k), n = a.shape, b.shape[1]
    c = torch.empty(m, n, dtype=torch.float16, device=a.device)  # (M, N)
    name = kernel or _choose(a, b, m, n, k)
    if name in CANDIDATES and not _aligned(a, b, n, k):
        raise ValueError(f"{name} needs K % 8 == N % 8 == 0 and 16-byte-aligned a and b")
    tile = KERNELS[name]
    grid = (-(-m // tile.bm) * -(-n // tile.bn),)
    launch(
        compiled(source, name),
        grid,
        (tile.threads,),
        (a, b, c, np.int32(m), np.int32(n), np.int32(k)),
        shared_mem=tile.smem_bytes,
    )
    return c


def compiled(source: CudaSource, name: str):
    """The compiled kernel, allowed its shared memory (and, for two CTAs per SM, all of L1 as
    shared memory: with the driver's default split only one CTA might fit)."""
    tile = KERNELS[name]
    fn = source.kernel(name, max_dynamic_smem=tile.smem_bytes)
    if tile.ctas_per_sm > 1:
        fn.preferred_shared_memory_carveout = 100
    return fn


def _aligned(a: torch.Tensor, b: torch.Tensor, n: int, k: int) -> bool:
    return k % 8 == 0 and n % 8 == 0 and a.data_ptr() % 16 == 0 and b.data_ptr() % 16 == 0


def _choose(a: torch.Tensor, b: torch.Tensor, m: int, n: int, k: int) -> str:
    if not _aligned(a, b, n, k):
        return ANY
    sms = torch.cuda.get_device_properties(a.device).multi_processor_count
    return FAST if -(-m // 256) * -(-n // 128) >= sms else SMALL
