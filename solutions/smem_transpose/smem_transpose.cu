// out = x^T for a row-major (M, N) float32 matrix, staged through padded shared-memory tiles.
// The launcher (cupy.py) compiles this file with -DTILE=32 -DSMEM_WORDS=<cupy.SMEM_WORDS> and
// the float4 kernels' region shape and cache hints (-DVEC_TILE_ROWS, -DVEC_TILE_COLS and
// -DVEC_STREAM: cupy.PLAN), so the tile's size comes from the same Python module whose smem_offset() the bank
// simulator reads. Two kernels: transpose_kernel (scalar, one tile per block: any shape, any
// alignment) and transpose_vec4 / transpose_vec4_persistent (16-byte global accesses, several
// tiles per block: M and N multiples of 4 and x 16-byte aligned, which the launcher checks).

#define ROWS 8  // blockDim.y of transpose_kernel: 8 warps per block, 4 elements per thread

#if !defined(VEC_TILE_ROWS) || !defined(VEC_TILE_COLS) || !defined(VEC_STREAM)
#error "compile with the launcher's -DVEC_TILE_ROWS, -DVEC_TILE_COLS and -DVEC_STREAM"
#endif

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

// ---- The float4 kernels: a block of 256 threads moves a region of RT x CT tiles (32*RT rows,
// 32*CT columns of x), each tile in its own SMEM_WORDS of shared memory, laid out by the same
// smem_offset. A tile is 256 slots of 4 consecutive floats; thread s owns slot s of every tile
// of the region: tile row a = s / 8, columns b .. b+3 with b = 4 * (s % 8). So a warp moves 32
// consecutive slots of one tile, 4 tile rows x 8 float4s: four whole 128-byte lines of x.
// It fills the tile with 4 scalar stores (element e = 0..3 of its float4): lane l writes word
// (a0 + l/8)*33 + 4*(l%8) + e, bank (a0 + l/8 + 4*(l%8) + e) mod 32, and l/8 + 4*(l%8) takes
// each value 0..31 once: no conflict. The write side mirrors it: thread s writes out row a of
// the tile's block of out (tile column a), out columns b .. b+3 (tile rows b .. b+3), reading
// word (4*(l%8) + e)*33 + a0 + l/8 for its e-th element, bank (4*(l%8) + e + a0 + l/8) mod 32:
// all 32 banks again. A warp never spans two tiles, so a tile's base offset shifts the banks
// of all its lanes alike.

#define VEC 4             // floats per 16-byte access
#define VEC_THREADS 256   // one thread per float4 slot of a tile
constexpr int VEC_TILES = VEC_TILE_ROWS * VEC_TILE_COLS;  // float4s in flight per thread
static_assert(VEC_THREADS * VEC == TILE * TILE, "a tile is 256 float4 slots");
static_assert(VEC_TILES * SMEM_WORDS * 4 <= 48 * 1024, "static shared memory stops at 48 KB");

__device__ __forceinline__ float4 load4(const float* p) {
#if VEC_STREAM
    return __ldcs(reinterpret_cast<const float4*>(p));  // read once: evict first
#else
    return __ldg(reinterpret_cast<const float4*>(p));
#endif
}

// __stwb is the default write-back store, spelled as an intrinsic because a plain
// `*(float4*)p = v` of a float4 built from 4 shared-memory loads came out of nvcc 13 as 4 scalar
// st.global.f32 for some of the tiles; the intrinsic is always one st.global.v4.f32.
__device__ __forceinline__ void store4(float* p, float4 v) {
#if VEC_STREAM
    __stcs(reinterpret_cast<float4*>(p), v);  // written once: evict first
#else
    __stwb(reinterpret_cast<float4*>(p), v);
#endif
}

// Region b of the grid in grouped order: `group` region rows are walked column by column, so
// the blocks in flight at one time cover a squarish patch of x (and of out) instead of a thin
// band, and both the reads and the writes stay within fewer DRAM pages. group 1 is row-major.
// 32-bit arithmetic (every block runs it, and 64-bit division is a long software routine): the
// launcher keeps the region count and group * regions_n below 2^31.
__device__ __forceinline__ void region_origin(int b, int M, int N, int group, long long& r0,
                                              long long& c0) {
    const int regions_m = ((long long)M + TILE * VEC_TILE_ROWS - 1) / (TILE * VEC_TILE_ROWS);
    const int regions_n = ((long long)N + TILE * VEC_TILE_COLS - 1) / (TILE * VEC_TILE_COLS);
    const int span = group * regions_n, g = b / span, first = g * group;
    const int height = min(group, regions_m - first), w = b - g * span;
    r0 = (long long)(first + w % height) * (TILE * VEC_TILE_ROWS);
    c0 = (long long)(w / height) * (TILE * VEC_TILE_COLS);
}

// Tile k of the region is x[r0 + 32*(k / CT) + ..., c0 + 32*(k % CT) + ...]. All of this
// thread's loads are issued before any is used. Ragged edges: N % 4 == 0, so a float4 is
// wholly inside x or wholly outside.
__device__ __forceinline__ void load_region(const float* __restrict__ x, int M, int N,
                                            long long r0, long long c0, float4 (&v)[VEC_TILES]) {
    const int a = threadIdx.x / 8, b = threadIdx.x % 8 * VEC;
    const float* p = x + (r0 + a) * N + c0 + b;
    const long long rows_left = M - (r0 + a), cols_left = N - (c0 + b);
#pragma unroll
    for (int k = 0; k < VEC_TILES; ++k) {
        const int dr = k / VEC_TILE_COLS * TILE, dc = k % VEC_TILE_COLS * TILE;
        v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (dr < rows_left && dc < cols_left) v[k] = load4(p + (long long)dr * N + dc);
    }
}

__device__ __forceinline__ void fill_tiles(float* tiles, const float4 (&v)[VEC_TILES]) {
    const int a = threadIdx.x / 8, b = threadIdx.x % 8 * VEC;
#pragma unroll
    for (int k = 0; k < VEC_TILES; ++k) {
        float* tile = tiles + k * SMEM_WORDS;
        tile[smem_offset(a, b + 0)] = v[k].x;
        tile[smem_offset(a, b + 1)] = v[k].y;
        tile[smem_offset(a, b + 2)] = v[k].z;
        tile[smem_offset(a, b + 3)] = v[k].w;
    }
}

// Tile column a of tile k is out row c0 + 32*(k % CT) + a; its rows b .. b+3 are 4 consecutive
// floats of that out row. M % 4 == 0, so a float4 of out is wholly inside or wholly outside.
__device__ __forceinline__ void drain_tiles(const float* tiles, float* __restrict__ out, int M,
                                            int N, long long r0, long long c0) {
    const int a = threadIdx.x / 8, b = threadIdx.x % 8 * VEC;
    float* q = out + (c0 + a) * M + r0 + b;
    const long long rows_left = N - (c0 + a), cols_left = M - (r0 + b);
#pragma unroll
    for (int k = 0; k < VEC_TILES; ++k) {
        const int dr = k % VEC_TILE_COLS * TILE, dc = k / VEC_TILE_COLS * TILE;
        const float* tile = tiles + k * SMEM_WORDS;
        if (dr < rows_left && dc < cols_left) {
            const float4 w = make_float4(tile[smem_offset(b, a)], tile[smem_offset(b + 1, a)],
                                         tile[smem_offset(b + 2, a)], tile[smem_offset(b + 3, a)]);
            store4(q + (long long)dr * M + dc, w);
        }
    }
}

// One region per block; the grid has one block per region.
extern "C" __global__ void __launch_bounds__(VEC_THREADS)
transpose_vec4(const float* __restrict__ x, float* __restrict__ out, int M, int N, int group) {
    __shared__ float tiles[VEC_TILES * SMEM_WORDS];
    long long r0, c0;
    region_origin(blockIdx.x, M, N, group, r0, c0);
    float4 v[VEC_TILES];
    load_region(x, M, N, r0, c0, v);
    fill_tiles(tiles, v);
    __syncthreads();  // every warp reads columns that other warps wrote
    drain_tiles(tiles, out, M, N, r0, c0);
}

// Persistent: a grid of about one wave walks the regions b, b + gridDim.x, ... The next region's
// loads are issued right after the barrier, into the registers just emptied into the tiles, so
// they are in flight while this region is written out: no block ever waits on its loads alone.
// Keeping two regions' addresses live costs registers (48 for 2 x 2 tiles unbounded, 5 blocks
// per SM); a bound of 6 blocks holds it to 40 without spills for regions of up to 4 tiles (3
// blocks for 8 tiles, which shared memory limits to 6 per SM anyway).
#define PERSISTENT_MIN_BLOCKS (VEC_TILES <= 4 ? 6 : 3)
extern "C" __global__ void __launch_bounds__(VEC_THREADS, PERSISTENT_MIN_BLOCKS)
transpose_vec4_persistent(const float* __restrict__ x, float* __restrict__ out, int M, int N,
                          int group, int regions) {
    __shared__ float tiles[VEC_TILES * SMEM_WORDS];
    int b = blockIdx.x;
    if (b >= regions) return;
    long long r0, c0;
    region_origin(b, M, N, group, r0, c0);
    float4 v[VEC_TILES];
    load_region(x, M, N, r0, c0, v);
    for (;;) {
        fill_tiles(tiles, v);
        __syncthreads();  // every warp reads columns that other warps wrote
        const int next = b + gridDim.x;  // regions + gridDim.x < 2^31: the launcher checks
        long long n0 = 0, m0 = 0;
        if (next < regions) {
            region_origin(next, M, N, group, n0, m0);
            load_region(x, M, N, n0, m0, v);
        }
        drain_tiles(tiles, out, M, N, r0, c0);
        if (next >= regions) break;
        __syncthreads();  // every warp has read the tiles before the next region overwrites them
        b = next, r0 = n0, c0 = m0;
    }
}
