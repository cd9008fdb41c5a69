"""Warp-shuffle sum reduction in CUDA C, launched through CuPy.

Idea: each thread accumulates a grid-stride slice with 16-byte loads (four in flight), a warp
combines its 32 values with 5 xor shuffles (registers only), warps meet in 32 words of shared
memory, and a second one-block launch sums the per-block partials. Reads 4N bytes once: at
2^28 floats the extra launch costs well under 1% of the pass over x.
Limits: float32 accumulation (the error grows like sqrt(N)*eps, inside the 1e-5*sum|x| bar).
Run it: `dojo check warp_reduce --impl solution` (static PTX checks on CPU; values need a GPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from grader.runtime.cuda import CudaSource, launch

SOURCE = CudaSource(Path(__file__).with_name("warp_reduce.cu"))
THREADS = 256
BLOCKS_PER_SM = 8  # 8 x 256 threads = the H100's 2048 resident threads per SM


def reduce_sum(x: torch.Tensor) -> torch.Tensor:
    return _reduce_sum(SOURCE, x)


def _reduce_sum(source: CudaSource, x: torch.Tensor) -> torch.Tensor:
    assert x.is_cuda and x.dtype == torch.float32 and x.dim() == 1 and x.is_contiguous()
    n = x.numel()
    head = min(n, (-x.data_ptr() % 16) // 4)  # floats before the first 16-byte boundary
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count
    blocks = max(1, min(sms * BLOCKS_PER_SM, -(-n // (THREADS * 4))))
    partials = torch.empty(blocks, dtype=torch.float32, device=x.device)  # (blocks,)
    out = torch.empty((), dtype=torch.float32, device=x.device)  # () 0-d result
    launch(
        source.kernel("reduce_sum_partials"),
        (blocks,),
        (THREADS,),
        (x, partials, np.int64(n), np.int32(head)),
    )
    launch(source.kernel("reduce_sum_final"), (1,), (1024,), (partials, out, np.int32(blocks)))
    return out
