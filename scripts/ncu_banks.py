"""The smem_transpose layout alone on the GPU, for ncu: row-wise stores and column-wise loads
of the tile through the implementation's own smem_offset(), with no global-memory traffic in
between (global loads share the L1 data pipe and add wavefronts the layout does not cause).
Usage under ncu --profile-from-start off: python scripts/ncu_banks.py IMPL.py [BLOCKS REPS]"""

import sys
from pathlib import Path

import numpy as np
import torch

from grader.problem.impls import import_file
from grader.runtime.cuda import launch

PROBE = """
extern "C" __global__ void dojo_bank_probe(float* out, int reps) {
    __shared__ float tile[SMEM_WORDS];
    const int tx = threadIdx.x, ty = threadIdx.y;
    float acc = 0.f;
    for (int r = 0; r < reps; ++r) {
        for (int k = 0; k < TILE; k += ROWS) tile[smem_offset(ty + k, tx)] = tx + k + r;
        __syncthreads();
        for (int j = 0; j < TILE; j += ROWS) acc += tile[smem_offset(tx, ty + j)];
        __syncthreads();
    }
    out[(blockIdx.x * ROWS + ty) * TILE + tx] = acc;
}
"""

module = import_file(Path(sys.argv[1]).resolve(), "dojo_bank_probe_impl")
probe = module.SOURCE.with_extra(PROBE)
blocks, reps = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (1024, 64)
out = torch.empty(blocks * 8 * 32, device="cuda")
launch(probe.kernel("dojo_bank_probe"), (blocks,), (32, 8), (out, np.int32(reps)))
torch.cuda.synchronize()
torch.cuda.profiler.start()
launch(probe.kernel("dojo_bank_probe"), (blocks,), (32, 8), (out, np.int32(reps)))
torch.cuda.synchronize()
torch.cuda.profiler.stop()
