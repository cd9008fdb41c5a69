"""A CUDA attempt at warp_reduce that imports CuPy at the top, as launchers do: on a machine
without CUDA that import fails, which is `needs_gpu`, not the attempt's error."""

import cupy  # noqa: F401

from grader.runtime.cuda import CudaSource

SOURCE = CudaSource(__file__.replace("cupy_at_import.py", "missing.cu"))


def reduce_sum(x):
    raise NotImplementedError
