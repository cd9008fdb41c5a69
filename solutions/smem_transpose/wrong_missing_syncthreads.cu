// Known-wrong: no barrier between filling the tile and reading it back. Each warp reads tile
// columns that the other 7 warps write, so it may read entries before they are stored: a race
// whose outcome depends on warp scheduling. The PTX rule (a bar.sync must separate the phases)
// rejects it on a CPU, whatever the GPU happened to do.

#define ROWS 8  // blockDim.y: 8 warps per block, each thread moves TILE / ROWS = 4 elements

// Word offset of tile element (row, col): one pad word per row, so a row is 33 words long.
// Row-wise stores touch words r*33 + 0..31: 32 consecutive words, 32 different banks.
// Column-wise loads touch words l*33 + c for lanes l = 0..31: bank (l + c) mod 32, all different.
// Must equal cupy.smem_offset() for every (row, col): a GPU test compares the two.
__device__ __forceinline__ int smem_offset(int row, int col) {
    return row * (TILE + 1) + col;
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
    // BUG: no __syncthreads(): warps read tile columns other warps may not have written yet

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
