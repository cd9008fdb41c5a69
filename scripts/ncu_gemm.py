"""One profiled call of a wmma_gemm kernel variant (run under ncu --profile-from-start off)."""

import sys

import torch

from solutions.wmma_gemm import cupy as gemm

name, size = sys.argv[1], int(sys.argv[2])
a = torch.randn(size, size, device="cuda").half()
b = torch.randn(size, size, device="cuda").half()
gemm._matmul(gemm.SOURCE, a, b, kernel=name)
torch.cuda.synchronize()
torch.cuda.profiler.start()
gemm._matmul(gemm.SOURCE, a, b, kernel=name)
torch.cuda.synchronize()
torch.cuda.profiler.stop()
