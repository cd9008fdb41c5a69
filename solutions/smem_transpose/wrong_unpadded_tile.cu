// Known-wrong: the tile has no padding. Values are right, but every column read of the tile
// puts all 32 lanes in one bank (32 wavefronts instead of 1): the bank simulator rejects the
// layout on a CPU, and ncu counts 31 extra wavefronts per column load on a GPU.

#define ROWS 8  // blockDim.y: 8 warps per block, each thread moves TILE / ROWS = 4 elements

// BUG: rows are 32 words apart, so tile column c is words l*32 + c: all in bank c.
__device__ __forceinline__ int smem_offset(int row, int col) {
    return row * TILE + col;
}

// Block b owns tile (tr, tc) = (b / tiles_n, b % tiles_n): x[tr*32 : tr*32+32, tc*32 : tc*32+32],
// which becomes out[tc*32 : tc*32+32, tr*32 : tr*32+32]. A 1-D grid has room for 2^31 - 1
// tiles; a 2-D grid's y dimension stops at 65535 (2.1M rows).
extern "C" __global__ void __launch_bounds__(TILE * ROWS)
transpose_kernel(const float* __restrict__ x, float* __restrict__ out, int M, int N, int tiles_n) {
    __shared__ float tile[SMEM_WORDS];
    const int tr = blockIdx.x / tiles_n, tc = blockIdx.x - tr * tiles_n;
    const int tx = threadIdx.x, ty = threadIdx.y;

    // Read: warp ty reads tile rows ty, ty+8, ty+16, ty+24; its 32 lanes read 32 consecutive
    // floats of one row of x (one 128-byte line). All four loads are issued before the first
    // result is used, so each thread has 4 loads in flight instead of waiting on each in turn.
    const int col = tc * TILE + tx;
    float v[TILE / ROWS];
#pragma unroll
    for (int k = 0; k < TILE / ROWS; ++k) {
        const int row = tr * TILE + ty + k * ROWS;
        v[k] = (row < M && col < N) ? x[(long long)row * N + col] : 0.0f;  // ragged edges
    }
#pragma unroll
    for (int k = 0; k < TILE / ROWS; ++k)  // ...and store them along tile rows
        tile[smem_offset(ty + k * ROWS, tx)] = v[k];
    __syncthreads();  // every warp reads columns that other warps wrote

    // Write: out row tc*32 + ty + j is tile column ty + j; lane tx takes tile row tx, so the
    // 32 lanes write 32 consecutive floats of out (one 128-byte line) and read down a column.
    const int ocol = tr * TILE + tx;
#pragma unroll
    for (int j = 0; j < TILE; j += ROWS) {
        const int orow = tc * TILE + ty + j;
        if (orow < N && ocol < M)
            out[(long long)orow * M + ocol] = tile[smem_offset(tx, ty + j)];
    }
}
