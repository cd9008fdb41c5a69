// DOJO_STUB: delete this line when you start; until then the grader reports "not attempted".
// Your Tensor Core GEMM (statement: README.md): C (M x N, fp16) = A (M x K) @ B (K x N),
// fp16 inputs, row-major, fp32 accumulation. Use nvcuda::wmma (#include <mma.h>) or
// mma.sync PTX: the PTX is checked for Tensor Core instructions.
#include <mma.h>
#include <cuda_fp16.h>
using namespace nvcuda;

// attempt.py launches this with a 1-D grid of ceil(M/64) * ceil(N/64) blocks of 128 threads
// (4 warps) and no dynamic shared memory; change both to suit your tiling.
extern "C" __global__ void hgemm(const half* __restrict__ A, const half* __restrict__ B,
                                 half* __restrict__ C, int M, int N, int K) {
    // TODO: each warp computes 16x16 (or larger) tiles of C with
    //   wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> a;
    //   wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::row_major> b;
    //   wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;   // fp32, not half
    // and handle M, N, K that are not multiples of 16 (stage tiles through shared memory,
    // zero-padded).
}
