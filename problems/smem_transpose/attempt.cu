// DOJO_STUB: delete this line when you start; until then the grader reports "not attempted".
// Your shared-memory transpose (statement: README.md). attempt.py compiles this file with
// -DTILE=32 -DSMEM_WORDS=<SMEM_WORDS from attempt.py> and launches transpose_kernel on a 1-D
// grid of ceil(M/32) * ceil(N/32) blocks of (32, 8) threads; change that plan there if you like.

// Word offset of tile element (row, col) in shared memory. The same formula as smem_offset()
// in attempt.py: the simulator judges the Python one, a GPU test checks this one equals it.
__device__ __forceinline__ int smem_offset(int row, int col) {
    return row * TILE + col;  // TODO: a column of this layout sits in one bank
}

// out (N, M) = x (M, N) transposed; both row-major. Block b owns the tile at tile-row
// b / tiles_n, tile-column b % tiles_n of x.
extern "C" __global__ void transpose_kernel(const float* __restrict__ x, float* __restrict__ out,
                                            int M, int N, int tiles_n) {
    __shared__ float tile[SMEM_WORDS];
    // TODO: read the tile's rows of x into tile[smem_offset(r, c)] (guard the ragged edges),
    // __syncthreads(), then write its columns as rows of out.
}
