// A padded-tile transpose on a 2-D grid (blockIdx.y = tile row, blockIdx.x = tile column),
// for the GPU-only bad attempts grid_y_over_the_launch_limit.py and writes_far_out_of_bounds.py.
// Compiled with -DTILE=32 -DSMEM_WORDS=1056, and -DFAR_WRITE=<element offset> for the faulting
// one (a write that far from out: outside every allocation).
#define ROWS 8

__device__ __forceinline__ int smem_offset(int row, int col) { return row * (TILE + 1) + col; }

extern "C" __global__ void transpose_kernel(const float* __restrict__ x, float* __restrict__ out,
                                            int M, int N, int tiles_n) {
    __shared__ float tile[SMEM_WORDS];
    const int tr = blockIdx.y, tc = blockIdx.x, tx = threadIdx.x, ty = threadIdx.y;
    const int col = tc * TILE + tx;
    for (int k = 0; k < TILE; k += ROWS) {
        const int row = tr * TILE + ty + k;
        tile[smem_offset(ty + k, tx)] = (row < M && col < N) ? x[(long long)row * N + col] : 0.0f;
    }
    __syncthreads();
    const int ocol = tr * TILE + tx;
    for (int j = 0; j < TILE; j += ROWS) {
        const int orow = tc * TILE + ty + j;
        if (orow < N && ocol < M) out[(long long)orow * M + ocol] = tile[smem_offset(tx, ty + j)];
    }
#ifdef FAR_WRITE
    if (tr == 0 && tc == 0 && tx == 0 && ty == 0) out[FAR_WRITE] = 1.0f;
#endif
}
