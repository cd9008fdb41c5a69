"""fp16 GEMM on the Tensor Cores (mma.sync m16n8k16, fp32 accumulation), launched via CuPy.

Idea: a CTA computes a 256 x 128 tile of C with 8 warps of 64 x 64; a 3-stage cp.async
pipeline streams 256 x 64 slices of A and 64 x 128 slices of B into shared memory, ldmatrix
feeds the fragments and each warp issues 32 mma.sync per 16-wide k step. Arithmetic intensity
per CTA tile: 2*256*128*64 FLOP per (256+128)*64*2 bytes = 85 FLOP/byte from L2, so the loop is
bound by issuing Tensor Core work, not by memory. Grouped rasterisation keeps B panels in L2.
Why the plumbing matters: ncu on an earlier version with padded shared-memory rows
(results/h200_ncu_wmma_gemm_0.txt, 4096^3 on an H200) had the tensor pipe ~44% busy, 2 warps
per scheduler and 31.6% of stall cycles on fixed-latency dependencies: with so few warps, every
non-mma instruction and every barrier wait shows. So this kernel (wmma_gemm.cu's header) keeps
XOR-swizzled, unpadded shared memory (conflict-free ldmatrix and cp.async), waits and
synchronises for the next slice one k16 step early so the fragment double buffer spans slices
(no warp idles at a slice boundary), and precomputes each thread's copy pointers and edge
predicates. Measured on an H200 (results/h200_wmma_sweep.json, one run, cuBLAS 737 / 747
TFLOP/s): 0.593 / 0.635 of cuBLAS at 4096^3 / 8192^3, the padded version 0.379 / 0.394.
4096^3 is 512 tiles, 3.88 waves on 132 SMs, so its last wave runs part-empty.
Limits: mma.sync is the Ampere instruction; Hopper's cuBLAS uses wgmma (asynchronous
warpgroup MMA, operands from shared memory) fed by TMA, which this problem does not ask for:
that is the remaining gap. The fast path needs K % 8 == 0, N % 8 == 0 and 16-byte-aligned
bases (cp.async moves 16 bytes); anything else takes the same kernel at 64 x 64 x 32 with
guarded element loads and stores (ANY). A grid of fewer 256 x 128 tiles than SMs takes 128 x
128 tiles, two CTAs per SM (SMALL). scripts/gpu_wmma_sweep.py checks the kernels and times the
fast ones against cuBLAS on a GPU in one run.
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
    aligned: bool = True  # cp.async: K % 8 == N % 8 == 0, 16-byte bases; False: any input
    ctas_per_sm: int = 1  # the __launch_bounds__ minimum (registers are sized for it)

    def __post_init__(self):
        per_sm = self.ctas_per_sm * (self.smem_bytes + 1024)
        assert per_sm <= SMEM_PER_SM, f"{self}: {per_sm} bytes of shared memory per SM"

    @property
    def smem_bytes(self) -> int:
        return self.stages * (self.bm * self.bk + self.bk * self.bn) * 2  # unpadded fp16 slices


KERNELS = {  # kernel name -> its tile, as instantiated at the end of wmma_gemm.cu
    "sw_256x128x64_s3": Tile(256, 128, 64, 256, 3),
    "sw_128x128x64_s3_x2": Tile(128, 128, 64, 128, 3, ctas_per_sm=2),
    "sw_64x64x32_any": Tile(64, 64, 32, 128, 2, aligned=False),
}
FAST = "sw_256x128x64_s3"  # 0.593 / 0.635 of cuBLAS on an H200 (results/h200_wmma_sweep.json)
SMALL = "sw_128x128x64_s3_x2"  # for grids of FAST tiles that would not fill the SMs
ANY = "sw_64x64x32_any"  # unaligned inputs


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _matmul(SOURCE, a, b)


def _matmul(source: CudaSource, a: torch.Tensor, b: torch.Tensor, kernel: str | None = None):
    """a @ b with `source`'s kernels; `kernel` (a KERNELS name, for sweeps and the wrong
    variants) is launched as is: an aligned one on unaligned inputs reads wrong data or faults."""
    assert a.dtype == b.dtype == torch.float16 and a.is_cuda and b.is_cuda
    assert a.is_contiguous() and b.is_contiguous() and a.shape[1] == b.shape[0]
    (m, k), n = a.shape, b.shape[1]
    c = torch.empty(m, n, dtype=torch.float16, device=a.device)  # (M, N)
    name = kernel or _choose(a, b, m, n, k)
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
    fast = KERNELS[FAST]
    return FAST if -(-m // fast.bm) * -(-n // fast.bn) >= sms else SMALL
