// fp16 GEMM on the Tensor Cores with mma.sync (m16n8k16, fp32 accumulators), Ampere style: one
// CTA computes a BM x BN tile of C, each warp a WM x WN block of it; a multi-stage cp.async
// pipeline fills XOR-swizzled, unpadded shared-memory slices and ldmatrix feeds the fragments.
// Around the Tensor Core instructions (what took the padded predecessor from 0.38 of cuBLAS to
// 0.59 on an H200, results/h200_wmma_sweep.json):
//  1. Swizzled shared memory instead of padded rows (Swizzle below): no wasted bytes, and
//     ldmatrix reads and cp.async writes stay conflict-free.
//  2. No bubble at a slice boundary. Waiting and synchronising at the top of each k slice, and
//     only then loading its first fragments, leaves every warp a barrier and an ldmatrix
//     latency with no mma to issue. Here the wait + __syncthreads for slice kt+1 come before
//     the last k16 step of slice kt, and that step's mma run while the first fragments of slice
//     kt+1 load: the fragment double buffer spans slices (the shape of CUTLASS's multistage
//     main loop).
//  3. Cheap copies: each thread's global pointers, swizzled shared offsets and M/N edge
//     predicates are computed once; a slice adds BK to the A pointer and BK * N to the B one.
// ALIGNED = false is the fallback for any shape and alignment: the same pipeline and layout,
// with guarded element loads in place of cp.async and guarded element stores.
#include <cuda_fp16.h>

__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without a register round trip; src_bytes < 16 zero-fills the rest.
// Needs a 16-byte-aligned source.
__device__ __forceinline__ void cp_async_16(unsigned dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(dst),
                 "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>  // until at most N of this thread's newest groups are pending
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// The guarded twin of cp_async_16 for any alignment: halves e < valid of src, zeros past them,
// stored as one 16-byte chunk (synchronously: the loads must land before the store).
__device__ __forceinline__ void copy_8_guarded(unsigned dst, const half* src, int valid) {
    unsigned w[4];
#pragma unroll
    for (int e = 0; e < 8; e += 2) {
        const unsigned lo = e < valid ? __half_as_ushort(src[e]) : 0u;
        const unsigned hi = e + 1 < valid ? __half_as_ushort(src[e + 1]) : 0u;
        w[e / 2] = lo | hi << 16;
    }
    asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(dst), "r"(w[0]), "r"(w[1]),
                 "r"(w[2]), "r"(w[3])
                 : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// D = A(16x16, row) * B(16x8, col) + D, fp16 inputs, fp32 accumulators.
__device__ __forceinline__ void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                          unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Offset in halves of 16-byte chunk c (8 halves) of row r in an unpadded tile with COLS halves
// per row. Chunks form 128-byte lines (one line covers all 32 banks once); chunk p of line l
// is stored in slot p ^ (l % 8) of its line. ldmatrix reads one chunk from each of 8
// consecutive rows, all at the same column: with rows of 128 bytes or more those rows are 8
// lines with 8 different XORs, so the 8 chunks land in 8 different slots (32 different banks);
// with 64-byte rows (COLS = 32, two rows per line) the 8 rows are 4 lines, two half-lines
// each, and again 8 different slots. A row's chunks are only permuted within their line, so
// 8 threads storing one line's 8 chunks (cp.async) are conflict-free too.
// Shifting by PERIOD rows never changes the XOR: at(r0 + r, c) == r0 * COLS + at(r, c) when
// r0 % PERIOD == 0, so warp, fragment and copy offsets stay plain additions.
template <int COLS>
struct Swizzle {
    static constexpr int CH = COLS / 8;  // chunks per row
    static constexpr int PERIOD = CH == 4 ? 16 : 8;
    static_assert(CH == 4 || CH % 8 == 0, "rows of 64 bytes or of a multiple of 128 bytes");
    __device__ __forceinline__ static int at(int r, int c) {
        if constexpr (CH % 8 == 0) {
            return r * COLS + ((c ^ (r & 7)) << 3);  // XOR flips the low 3 bits: same line
        } else {
            const int l = r * CH + c;  // chunk number; its line is l >> 3
            return (l ^ ((l >> 3) & 7)) << 3;
        }
    }
};

// Grouped rasterisation: 8 consecutive CTAs walk down a column of C tiles, so the B panel they
// share stays in L2.
template <int BM, int BN>
__device__ __forceinline__ void grouped_tile(int M, int N, int& m0, int& n0) {
    constexpr int GROUP = 8;
    const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
    const int group = GROUP * tiles_n, first_m = (blockIdx.x / group) * GROUP;
    const int rows = min(tiles_m - first_m, GROUP);
    m0 = (first_m + (blockIdx.x % group) % rows) * BM;
    n0 = ((blockIdx.x % group) / rows) * BN;
}

// ALIGNED: cp.async copies, so K % 8 == N % 8 == 0 and 16-byte-aligned A and B (cupy.py's
// _aligned); otherwise any M, N, K and alignment.
template <int BM, int BN, int BK, int WM, int WN, int STAGES, bool ALIGNED>
struct Gemm {
    static constexpr int WARPS_N = BN / WN;
    static constexpr int THREADS = 32 * (BM / WM) * WARPS_N;
    static constexpr int MI = WM / 16, NI = WN / 8;  // mma tiles per warp
    static constexpr int KS = BK / 16;               // k16 steps per slice
    static constexpr int STAGE_BYTES = (BM * BK + BK * BN) * 2;
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES;
    // Copy plan: thread t copies chunk column t % CH of rows t / CH, t / CH + STEP, ...
    static constexpr int A_CH = BK / 8, A_STEP = THREADS / A_CH, A_ITERS = BM / A_STEP;
    static constexpr int B_CH = BN / 8, B_STEP = THREADS / B_CH, B_ITERS = BK / B_STEP;
    static_assert(KS % 2 == 0, "the fragment double buffer must be back at 0 on a new slice");
    static_assert(THREADS % A_CH == 0 && BM % A_STEP == 0, "A slice splits evenly");
    static_assert(THREADS % B_CH == 0 && BK % B_STEP == 0, "B slice splits evenly");
    static_assert(A_STEP % Swizzle<BK>::PERIOD == 0 && B_STEP % Swizzle<BN>::PERIOD == 0,
                  "a thread's rows share one swizzle");
    static_assert(WM % 16 == 0 && WN % 16 == 0 && BM * BK / 8 >= THREADS, "tile shapes");

    // One thread's share of every slice: A_ITERS chunks of A and B_ITERS chunks of B.
    // Which rows are inside M and columns inside N is fixed per thread; the K edge moves.
    struct Copier {
        const half* a;    // A[m0 + t / A_CH][k0 + 8 * (t % A_CH)] for the next slice
        const half* b;    // B[k0 + t / B_CH][n0 + 8 * (t % B_CH)] for the next slice
        unsigned a_smem;  // byte offsets in a stage of the thread's first chunks
        unsigned b_smem;
        int a_k, b_k, k0;  // the thread's k within a slice (A column, B row); slice start
        unsigned a_rows;   // bit i: A row t / A_CH + i * A_STEP is inside M
        int b_n;           // n0 + 8 * (t % B_CH): the thread's B columns start here

        __device__ Copier(const half* A, const half* B, int M, int N, int K, int m0, int n0) {
            const int t = threadIdx.x;
            const int ar = t / A_CH, ac = t % A_CH, br = t / B_CH, bc = t % B_CH;
            a = A + (long long)(m0 + ar) * K + ac * 8;
            b = B + (long long)br * N + n0 + bc * 8;
            a_smem = Swizzle<BK>::at(ar, ac) * 2;
            b_smem = (BM * BK + Swizzle<BN>::at(br, bc)) * 2;
            a_k = ac * 8, b_k = br, k0 = 0;
            a_rows = 0;
#pragma unroll
            for (int i = 0; i < A_ITERS; ++i) a_rows |= (m0 + ar + i * A_STEP < M) << i;
            b_n = n0 + bc * 8;
        }

        // cp.async of the next slice into `stage` (a shared address), A then B; chunks past
        // M, N or K are zero-filled (src-size 0 reads nothing; the base pointer stands in).
        // !ALIGNED: element loads, zeros past the edges, 16-byte stores to the same chunks.
        __device__ void copy_a(unsigned stage, const half* A, int K) const {
            const bool a_in_k = k0 + a_k < K;
#pragma unroll
            for (int i = 0; i < A_ITERS; ++i) {
                if constexpr (ALIGNED) {
                    const bool in = a_in_k && (a_rows >> i & 1);
                    const half* src = in ? a + (long long)i * A_STEP * K : A;
                    cp_async_16(stage + a_smem + i * A_STEP * BK * 2, src, in ? 16 : 0);
                } else {
                    const int valid = a_rows >> i & 1 ? K - (k0 + a_k) : 0;
                    copy_8_guarded(stage + a_smem + i * A_STEP * BK * 2,
                                   a + (long long)i * A_STEP * K, valid);
                }
            }
        }
        __device__ void copy_b(unsigned stage, const half* B, int N, int K) const {
#pragma unroll
            for (int i = 0; i < B_ITERS; ++i) {
                const bool in_k = k0 + b_k + i * B_STEP < K;
                if constexpr (ALIGNED) {
                    const bool in = b_n < N && in_k;
                    const half* src = in ? b + (long long)i * B_STEP * N : B;
                    cp_async_16(stage + b_smem + i * B_STEP * BN * 2, src, in ? 16 : 0);
                } else {
                    copy_8_guarded(stage + b_smem + i * B_STEP * BN * 2,
                                   b + (long long)i * B_STEP * N, in_k ? N - b_n : 0);
                }
            }
        }
        __device__ void advance(int N) { a += BK, b += (long long)BK * N, k0 += BK; }
    };

    // Fragments of k16 step s from one stage: ldmatrix rows at the lane's precomputed offsets
    // (ao[s] for A, bo[j] for B's n16 pair j; step s of B is 16 rows further down).
    __device__ static void load_frags(unsigned stage, int s, const unsigned (&ao)[KS],
                                      const unsigned (&bo)[NI / 2], unsigned (&a)[MI][4],
                                      unsigned (&b)[NI / 2][4]) {
#pragma unroll
        for (int i = 0; i < MI; ++i) ldmatrix_x4(a[i], stage + ao[s] + i * 16 * BK * 2);
#pragma unroll
        for (int j = 0; j < NI / 2; ++j)
            ldmatrix_x4_trans(b[j], stage + bo[j] + s * 16 * BN * 2);
    }

    // MI * NI mma of one k16 step, in serpentine order so consecutive mma share an operand.
    __device__ static void mma_step(float (&acc)[MI][NI][4], const unsigned (&a)[MI][4],
                                    const unsigned (&b)[NI / 2][4]) {
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int jj = 0; jj < NI; ++jj) {
                const int j = (i & 1) ? NI - 1 - jj : jj;
                mma_16816(acc[i][j], a[i], b[j / 2][(j & 1) * 2], b[j / 2][(j & 1) * 2 + 1]);
            }
    }

    __device__ static void run(const half* __restrict__ A, const half* __restrict__ B,
                               half* __restrict__ C, int M, int N, int K) {
        extern __shared__ __align__(16) half smem[];
        int m0, n0;
        grouped_tile<BM, BN>(M, N, m0, n0);
        const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
        const int wm = (warp / WARPS_N) * WM, wn = (warp % WARPS_N) * WN;
        const unsigned base = smem_u32(smem);
        // ldmatrix row addresses: lanes 0-15 give rows 0-15 at the lower 8 k (A) or n (B)
        // columns, lanes 16-31 the same rows 8 columns on; ao per k16 step, bo per n16 pair.
        unsigned ao[KS], bo[NI / 2];
#pragma unroll
        for (int s = 0; s < KS; ++s)
            ao[s] = (wm * BK + Swizzle<BK>::at(lane & 15, 2 * s + (lane >> 4))) * 2;
#pragma unroll
        for (int j = 0; j < NI / 2; ++j)
            bo[j] = (BM * BK + Swizzle<BN>::at(lane & 15, (wn + 16 * j) / 8 + (lane >> 4))) * 2;

        float acc[MI][NI][4];
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NI; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

        Copier copier(A, B, M, N, K, m0, n0);
        const int slices = (K + BK - 1) / BK;
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) {  // prologue: STAGES-1 slices in flight
            if (s < slices) {
                copier.copy_a(base + s * STAGE_BYTES, A, K);
                copier.copy_b(base + s * STAGE_BYTES, B, N, K);
                copier.advance(N);
            }
            cp_async_commit();
        }
        main_loop(acc, copier, base, ao, bo, slices, A, B, N, K);
        cp_async_wait<0>();
        store(C, acc, M, N, m0 + wm, n0 + wn, lane);
    }

    // The k loop, with the fragment double buffer spanning slices (see 2. at the top).
    __device__ static void main_loop(float (&acc)[MI][NI][4], Copier& copier, unsigned base,
                                     const unsigned (&ao)[KS], const unsigned (&bo)[NI / 2],
                                     int slices, const half* A, const half* B, int N, int K) {
        cp_async_wait<STAGES - 2>();  // slice 0 has landed (for this thread) ...
        __syncthreads();              // ... for every thread
        unsigned a[2][MI][4], b[2][NI / 2][4];  // fragment double buffer: step s in [s & 1]
        load_frags(base, 0, ao, bo, a[0], b[0]);
        int read = 0, write = STAGES - 1;  // stage of slice kt; stage refilled with kt+STAGES-1
        for (int kt = 0; kt < slices; ++kt) {
            const unsigned cur = base + read * STAGE_BYTES;
            read = read + 1 == STAGES ? 0 : read + 1;
            const unsigned nxt = base + read * STAGE_BYTES;
#pragma unroll
            for (int s = 0; s < KS; ++s) {
                if (s == KS - 1) {  // slice kt+1 must be complete before its first fragments
                    cp_async_wait<STAGES - 2>();  // are read; by now every warp also holds
                    __syncthreads();              // all of slice kt in registers
                }
                load_frags(s + 1 < KS ? cur : nxt, (s + 1) % KS, ao, bo, a[(s + 1) & 1],
                           b[(s + 1) & 1]);
                // Refill the stage of slice kt-1: every warp read its last fragments before the
                // previous barrier. Always commit (maybe an empty group): wait_group then
                // counts slices. (A's copies apart from B's: the measured code; folding them
                // into one block costs ptxas 8 registers.)
                const bool refill = kt + STAGES - 1 < slices;
                if (s == 0 && refill) copier.copy_a(base + write * STAGE_BYTES, A, K);
                if (s == 0) {
                    if (refill) {
                        copier.copy_b(base + write * STAGE_BYTES, B, N, K);
                        copier.advance(N);
                    }
                    cp_async_commit();
                    write = write + 1 == STAGES ? 0 : write + 1;
                }
                mma_step(acc, a[s & 1], b[s & 1]);
            }
        }
    }

    // Accumulator c0,c1 sit at (row g, cols 2q, 2q+1) of each m16n8 tile, c2,c3 at row g + 8.
    __device__ static void store(half* C, const float (&acc)[MI][NI][4], int M, int N, int r0,
                                 int c0, int lane) {
        const int g = lane >> 2, q = lane & 3;
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NI; ++j)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int r = r0 + i * 16 + g + h * 8, c = c0 + j * 8 + 2 * q;
                    if constexpr (ALIGNED) {  // N % 8 == 0: the pair is inside N or outside
                        if (r < M && c < N)
                            *reinterpret_cast<half2*>(C + (long long)r * N + c) =
                                __floats2half2_rn(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
                    } else if (r < M) {
                        half* dst = C + (long long)r * N + c;
                        if (c < N) dst[0] = __float2half(acc[i][j][2 * h]);
                        if (c + 1 < N) dst[1] = __float2half(acc[i][j][2 * h + 1]);
                    }
                }
    }
};

// NAME_smem_bytes: the dynamic shared memory NAME needs, for tests to hold cupy.py's table to.
// MIN_BLOCKS: CTAs per SM that __launch_bounds__ must leave registers for (2: <= 113 KiB of
// shared memory each and <= 255 registers at 128 threads).
#define DEFINE_GEMM(NAME, BM, BN, BK, WM, WN, STAGES, ALIGNED, MIN_BLOCKS)                        \
    extern "C" __constant__ int NAME##_smem_bytes =                                             \
        Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::SMEM_BYTES;                                  \
    extern "C" __global__ void __launch_bounds__(                                               \
        Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::THREADS, MIN_BLOCKS)                         \
        NAME(const half* A, const half* B, half* C, int M, int N, int K) {                      \
        Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::run(A, B, C, M, N, K);                       \
    }

// The fast path: 8 warps of 64 x 64, 3 stages of 48 KiB (a 4th measured no faster).
DEFINE_GEMM(sw_256x128x64_s3, 256, 128, 64, 64, 64, 3, true, 1)
// Grids of fewer 256 x 128 tiles than SMs: twice the CTAs, two per SM.
DEFINE_GEMM(sw_128x128x64_s3_x2, 128, 128, 64, 64, 64, 3, true, 2)
// Any shape and alignment: 4 warps of 32 x 32, element loads.
DEFINE_GEMM(sw_64x64x32_any, 64, 64, 32, 32, 32, 2, false, 1)
