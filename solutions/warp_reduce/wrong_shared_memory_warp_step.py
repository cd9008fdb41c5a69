"""Known-wrong warp reduction: the sums are right, but the intra-warp step is a shared-memory
tree instead of register shuffles; the PTX rule (shuffles, no shared memory) rejects it on a
CPU, before any GPU runs it.
Rejected by: test_ptx_follows_static_rule
"""

import torch

from solutions.warp_reduce.cupy import SOURCE as SOLUTION
from solutions.warp_reduce.cupy import _reduce_sum

SHUFFLES = """#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;"""
SHARED_TREE = """__shared__ float lanes[1024];  // BUG (of the exercise): lanes talk through memory
    volatile float* mine = lanes + (threadIdx.x & ~31);
    const int lane = threadIdx.x & 31;
    mine[lane] = v;
    __syncwarp();
    for (int offset = 16; offset > 0; offset >>= 1) {
        if (lane < offset) mine[lane] += mine[lane + offset];
        __syncwarp();
    }
    return mine[0];"""
SOURCE = SOLUTION.patched(SHUFFLES, SHARED_TREE)


def reduce_sum(x: torch.Tensor) -> torch.Tensor:
    return _reduce_sum(SOURCE, x)
