// fp16 GEMM on the Tensor Cores with mma.sync (m16n8k16, fp32 accumulators), Ampere style:
// a multi-stage cp.async pipeline fills padded shared-memory tiles, ldmatrix feeds the
// fragments, each warp owns a WM x WN block of C. One CTA computes a BM x BN tile of C.
// SwizzledGemm (second half of the file) holds the fast-path candidates under evaluation.
#include <cuda_fp16.h>

__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without a register round trip; src_bytes < 16 zero-fills the rest.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)),
                 "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
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

template <int BM, int BN, int BK, int WM, int WN, int STAGES, bool ALIGNED>
struct Gemm {
    static constexpr int WARPS_N = BN / WN;
    static constexpr int THREADS = 32 * (BM / WM) * WARPS_N;
    static constexpr int MI = WM / 16, NI = WN / 8;      // mma tiles per warp
    static constexpr int AS = BK + 8, BS = BN + 8;       // padded rows: ldmatrix conflict-free
    static constexpr int STAGE = BM * AS + BK * BS;      // halves per pipeline stage
    static constexpr int SMEM_BYTES = STAGES * STAGE * 2;

    // Stage tile kt of A (BM x BK) and B (BK x BN). ALIGNED: 16-byte cp.async, rows and
    // columns past the matrix zero-filled (needs K % 8 == N % 8 == 0 and 16-byte bases);
    // otherwise guarded element loads, correct for any shape and alignment.
    __device__ static void load_tile(half* st, const half* A, const half* B, int M, int N,
                                     int K, int m0, int n0, int kt) {
        half* as = st;
        half* bs = st + BM * AS;
        const int k0 = kt * BK;
        if constexpr (ALIGNED) {
            for (int c = threadIdx.x; c < BM * BK / 8; c += THREADS) {
                const int r = c / (BK / 8), k = (c % (BK / 8)) * 8;
                const bool in = m0 + r < M && k0 + k < K;
                const half* src = in ? A + (long long)(m0 + r) * K + k0 + k : A;
                cp_async_16(as + r * AS + k, src, in ? 16 : 0);
            }
            for (int c = threadIdx.x; c < BK * BN / 8; c += THREADS) {
                const int r = c / (BN / 8), n = (c % (BN / 8)) * 8;
                const bool in = k0 + r < K && n0 + n < N;
                const half* src = in ? B + (long long)(k0 + r) * N + n0 + n : B;
                cp_async_16(bs + r * BS + n, src, in ? 16 : 0);
            }
        } else {
            const half zero = __float2half(0.f);
            for (int i = threadIdx.x; i < BM * BK; i += THREADS) {
                const int r = i / BK, k = i % BK;
                const bool in = m0 + r < M && k0 + k < K;
                as[r * AS + k] = in ? A[(long long)(m0 + r) * K + k0 + k] : zero;
            }
            for (int i = threadIdx.x; i < BK * BN; i += THREADS) {
                const int r = i / BN, n = i % BN;
                const bool in = k0 + r < K && n0 + n < N;
                bs[r * BS + n] = in ? B[(long long)(k0 + r) * N + n0 + n] : zero;
            }
        }
    }

    // Fragments of one k16 step: MI A tiles (16 x 16) and NI B tiles (16 x 8) of this warp.
    __device__ static void load_frags(const half* as, const half* bs, int kk, int wm, int wn,
                                      unsigned (&a)[MI][4], unsigned (&b)[NI / 2][4]) {
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int i = 0; i < MI; ++i)  // lanes 0-15: rows at k, lanes 16-31: rows at k+8
            ldmatrix_x4(a[i], as + (wm + i * 16 + (lane & 15)) * AS + kk + (lane >> 4) * 8);
#pragma unroll
        for (int j = 0; j < NI / 2; ++j)  // two n8 fragments per x4.trans
            ldmatrix_x4_trans(b[j], bs + (kk + (lane & 15)) * BS + wn + j * 16 + (lane >> 4) * 8);
    }

    // One BK slice of the warp's WM x WN block. The fragments of step s+1 are loaded into the
    // other register buffer before the MI * NI mma instructions of step s are issued, so the
    // ldmatrix latency hides behind Tensor Core work.
    __device__ static void compute_tile(const half* st, float (&acc)[MI][NI][4], int wm, int wn) {
        const half* as = st;
        const half* bs = st + BM * AS;
        unsigned a[2][MI][4], b[2][NI / 2][4];
        load_frags(as, bs, 0, wm, wn, a[0], b[0]);
#pragma unroll
        for (int s = 0; s < BK / 16; ++s) {
            if (s + 1 < BK / 16) load_frags(as, bs, (s + 1) * 16, wm, wn, a[(s + 1) & 1], b[(s + 1) & 1]);
#pragma unroll
            for (int i = 0; i < MI; ++i)
#pragma unroll
                for (int j = 0; j < NI; ++j)
                    mma_16816(acc[i][j], a[s & 1][i], b[s & 1][j / 2][(j & 1) * 2],
                              b[s & 1][j / 2][(j & 1) * 2 + 1]);
        }
    }

    __device__ static void run(const half* __restrict__ A, const half* __restrict__ B,
                               half* __restrict__ C, int M, int N, int K) {
        extern __shared__ __align__(16) half smem[];
        // Grouped rasterisation: 8 consecutive CTAs walk down a column of C tiles, so the
        // B panel they share stays in L2.
        const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
        const int group = 8 * tiles_n, first_m = (blockIdx.x / group) * 8;
        const int rows = min(tiles_m - first_m, 8);
        const int tm = first_m + (blockIdx.x % group) % rows, tn = (blockIdx.x % group) / rows;
        const int m0 = tm * BM, n0 = tn * BN;
        const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
        const int wm = (warp / WARPS_N) * WM, wn = (warp % WARPS_N) * WN;

        float acc[MI][NI][4];
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NI; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

        const int KT = (K + BK - 1) / BK;
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) {  // prologue: STAGES-1 tiles in flight
            if (s < KT) load_tile(smem + s * STAGE, A, B, M, N, K, m0, n0, s);
            cp_async_commit();
        }
        for (int kt = 0; kt < KT; ++kt) {
            cp_async_wait<STAGES - 2>();  // tile kt has landed (for this thread) ...
            __syncthreads();              // ... for every thread; stage kt-1 is free again
            const int next = kt + STAGES - 1;
            if (next < KT) load_tile(smem + (next % STAGES) * STAGE, A, B, M, N, K, m0, n0, next);
            cp_async_commit();
            compute_tile(smem + (kt % STAGES) * STAGE, acc, wm, wn);
        }
        cp_async_wait<0>();

        // Epilogue: accumulator c0,c1 sit at (row g, cols 2q, 2q+1), c2,c3 at row g + 8.
        const int g = lane >> 2, q = lane & 3;
#pragma unroll
        for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NI; ++j)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int r = m0 + wm + i * 16 + g + h * 8, c = n0 + wn + j * 8 + 2 * q;
                    if (r >= M) continue;
                    half* dst = C + (long long)r * N + c;
                    if (ALIGNED && c + 1 < N) {
                        *reinterpret_cast<half2*>(dst) =
                            __floats2half2_rn(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
                    } else {
                        if (c < N) dst[0] = __float2half(acc[i][j][2 * h]);
                        if (c + 1 < N) dst[1] = __float2half(acc[i][j][2 * h + 1]);
                    }
                }
    }
};

// NAME_smem_bytes: the dynamic shared memory NAME needs, for tests to hold cupy.py's table to.
#define DEFINE_GEMM(NAME, BM, BN, BK, WM, WN, STAGES, ALIGNED)                                 \
    extern "C" __constant__ int NAME##_smem_bytes =                                            \
        Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::SMEM_BYTES;                                 \
    extern "C" __global__ void __launch_bounds__(Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::THREADS, 1) \
        NAME(const half* A, const half* B, half* C, int M, int N, int K) {                    \
        Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::run(A, B, C, M, N, K);                     \
    }

DEFINE_GEMM(hgemm_256x128x64_s3, 256, 128, 64, 64, 64, 3, true)
DEFINE_GEMM(hgemm_128x256x64_s3, 128, 256, 64, 64, 64, 3, true)
DEFINE_GEMM(hgemm_128x128x64_s3, 128, 128, 64, 64, 64, 3, true)
DEFINE_GEMM(hgemm_64x64_any, 64, 64, 32, 32, 32, 2, false)

// ==============================================================================================
// Candidates for the fast path (aligned inputs only; scripts/gpu_wmma_sweep.py times them
// against the kernels above). Same warp layout and mma.sync as Gemm; what changes is the
// plumbing around the Tensor Core instructions:
//  1. Swizzled shared memory instead of padded rows (Swizzle below): no wasted bytes, so a
//     256 x 128 x 64 tile takes 48 KiB per stage and 4 stages fit in the 227 KiB of an H100/H200.
//  2. No bubble at the slice boundary. Gemm waits and synchronises at the top of each k slice
//     and only then loads the slice's first fragments: every warp sits through the barrier and
//     an ldmatrix latency with no mma to issue. Here the wait + __syncthreads for slice kt+1
//     come before the last k16 step of slice kt, and that step's mma run while the first
//     fragments of slice kt+1 load: the fragment double buffer spans slices (the shape of
//     CUTLASS's multistage main loop).
//  3. Cheaper copies: each thread's global pointers, swizzled shared offsets and M/N edge
//     predicates are computed once; a slice adds BK to the A pointer and BK * N to the B one
//     (ptxas: ~145 non-mma instructions per 128 mma in the main loop, against ~500 in Gemm's).
// The instantiations at the end vary what the sweep should decide: stages (3, 4, 6), BK (64 or
// 32), 256 x 128 against 128 x 256, one CTA of 8 warps per SM against two of 4 warps (the
// other CTA fills one's barrier stalls), 8 warps of 64 x 64 per SM against 16 of 64 x 32
// (twice the warps to hide fixed-latency stalls, at 1.5x the ldmatrix bytes per mma), raster
// group height, and when the copies issue.
// ==============================================================================================

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

__device__ __forceinline__ void cp_async_16s(unsigned dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(dst),
                 "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(unsigned (&r)[4], unsigned addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// Grouped rasterisation: GROUP consecutive CTAs walk down a column of C tiles, so the B panel
// they share stays in L2 (the same order as Gemm's, with the group height a parameter).
template <int BM, int BN, int GROUP>
__device__ __forceinline__ void grouped_tile(int M, int N, int& m0, int& n0) {
    const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
    const int group = GROUP * tiles_n, first_m = (blockIdx.x / group) * GROUP;
    const int rows = min(tiles_m - first_m, GROUP);
    m0 = (first_m + (blockIdx.x % group) % rows) * BM;
    n0 = ((blockIdx.x % group) / rows) * BN;
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int GROUP, bool SPLIT,
          bool PREFETCH>
struct SwizzledGemm {
    static constexpr int WARPS_N = BN / WN;
    static constexpr int THREADS = 32 * (BM / WM) * WARPS_N;
    static constexpr int MI = WM / 16, NI = WN / 8;  // mma tiles per warp
    static constexpr int KS = BK / 16;               // k16 steps per slice
    static constexpr int COPY_B_STEP = SPLIT && KS > 2 ? 1 : 0;  // before the wait at KS-1
    static constexpr int STAGE_BYTES = (BM * BK + BK * BN) * 2;
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES;
    // Copy plan: thread t copies chunk column t % CH of rows t / CH, t / CH + STEP, ...
    static constexpr int A_CH = BK / 8, A_STEP = THREADS / A_CH, A_ITERS = BM / A_STEP;
    static constexpr int B_CH = BN / 8, B_STEP = THREADS / B_CH, B_ITERS = BK / B_STEP;
    static_assert(KS % 2 == 0 || !PREFETCH, "the double buffer must be back at 0 on a new slice");
    static_assert(THREADS % A_CH == 0 && BM % A_STEP == 0, "A slice splits evenly");
    static_assert(THREADS % B_CH == 0 && BK % B_STEP == 0, "B slice splits evenly");
    static_assert(A_STEP % Swizzle<BK>::PERIOD == 0 && B_STEP % Swizzle<BN>::PERIOD == 0,
                  "a thread's rows share one swizzle");
    static_assert(WM % 16 == 0 && WN % 16 == 0 && BM * BK / 8 >= THREADS, "tile shapes");

    // One thread's share of every slice: A_ITERS chunks of A and B_ITERS chunks of B.
    // Whether a row is past M or a column past N is fixed per thread; the K edge moves.
    struct Copier {
        const half* a;       // A[m0 + t / A_CH][k0 + 8 * (t % A_CH)] for the next slice
        const half* b;       // B[k0 + t / B_CH][n0 + 8 * (t % B_CH)] for the next slice
        unsigned a_smem;     // byte offsets in a stage of the thread's first chunks
        unsigned b_smem;
        int a_k, b_k, k0;    // the thread's k within a slice (A column, B row); slice start
        unsigned a_rows;     // bit i: A row t / A_CH + i * A_STEP is inside M
        bool b_in_n;         // the thread's B columns are inside N (N % 8 == 0: all or none)

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
            b_in_n = n0 + bc * 8 < N;
        }

        // cp.async of the next slice into `stage` (a shared address), A then B; chunks past
        // M, N or K are zero-filled (src-size 0 reads nothing; the base pointer stands in).
        __device__ void copy_a(unsigned stage, const half* A, int K) const {
            const bool a_in_k = k0 + a_k < K;
#pragma unroll
            for (int i = 0; i < A_ITERS; ++i) {
                const bool in = a_in_k && (a_rows >> i & 1);
                const half* src = in ? a + (long long)i * A_STEP * K : A;
                cp_async_16s(stage + a_smem + i * A_STEP * BK * 2, src, in ? 16 : 0);
            }
        }
        __device__ void copy_b(unsigned stage, const half* B, int N, int K) const {
#pragma unroll
            for (int i = 0; i < B_ITERS; ++i) {
                const bool in = b_in_n && k0 + b_k + i * B_STEP < K;
                const half* src = in ? b + (long long)i * B_STEP * N : B;
                cp_async_16s(stage + b_smem + i * B_STEP * BN * 2, src, in ? 16 : 0);
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
        for (int i = 0; i < MI; ++i) ldsm_x4(a[i], stage + ao[s] + i * 16 * BK * 2);
#pragma unroll
        for (int j = 0; j < NI / 2; ++j) ldsm_x4_trans(b[j], stage + bo[j] + s * 16 * BN * 2);
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
        extern __shared__ __align__(16) half sw_smem[];
        int m0, n0;
        grouped_tile<BM, BN, GROUP>(M, N, m0, n0);
        const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
        const int wm = (warp / WARPS_N) * WM, wn = (warp % WARPS_N) * WN;
        const unsigned base = smem_u32(sw_smem);
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
        if constexpr (PREFETCH)
            loop_prefetch(acc, copier, base, ao, bo, slices, A, B, N, K);
        else
            loop_simple(acc, copier, base, ao, bo, slices, A, B, N, K);
        cp_async_wait<0>();
        store(C, acc, M, N, m0 + wm, n0 + wn, lane);
    }

    // The main loop with the fragment double buffer spanning slices (see 2. above).
    __device__ static void loop_prefetch(float (&acc)[MI][NI][4], Copier& copier, unsigned base,
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
                // Refill the stage of slice kt-1: every warp read its last fragments before
                // the previous barrier. SPLIT issues A's copies at step 0 and B's at step 1,
                // so they do not all queue up in front of one step's ldmatrix. Always commit
                // (maybe an empty group): wait_group then counts slices.
                const bool refill = kt + STAGES - 1 < slices;
                if (s == 0 && refill) copier.copy_a(base + write * STAGE_BYTES, A, K);
                if (s == COPY_B_STEP) {
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

    // Gemm's loop order (wait + barrier at the top of a slice, each step's fragments loaded
    // just before its mma) with one fragment buffer: for 64 x 32 warp tiles, whose 16 warps
    // per SM must fit in 128 registers and hide each other's ldmatrix latency instead.
    __device__ static void loop_simple(float (&acc)[MI][NI][4], Copier& copier, unsigned base,
                                       const unsigned (&ao)[KS], const unsigned (&bo)[NI / 2],
                                       int slices, const half* A, const half* B, int N, int K) {
        unsigned a[MI][4], b[NI / 2][4];
        int read = 0, write = STAGES - 1;
        for (int kt = 0; kt < slices; ++kt) {
            cp_async_wait<STAGES - 2>();  // slice kt has landed (for this thread) ...
            __syncthreads();              // ... for every thread; stage of kt-1 is free again
            if (kt + STAGES - 1 < slices) {
                copier.copy_a(base + write * STAGE_BYTES, A, K);
                copier.copy_b(base + write * STAGE_BYTES, B, N, K);
                copier.advance(N);
            }
            cp_async_commit();
            write = write + 1 == STAGES ? 0 : write + 1;
            const unsigned cur = base + read * STAGE_BYTES;
            read = read + 1 == STAGES ? 0 : read + 1;
#pragma unroll
            for (int s = 0; s < KS; ++s) {
                load_frags(cur, s, ao, bo, a, b);
                mma_step(acc, a, b);
            }
        }
    }

    // Accumulator c0,c1 sit at (row g, cols 2q, 2q+1) of each m16n8 tile, c2,c3 at row g + 8.
    // N % 8 == 0 on this path, so a column pair is inside N or outside it as a whole.
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
                    if (r < M && c < N)
                        *reinterpret_cast<half2*>(C + (long long)r * N + c) =
                            __floats2half2_rn(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
                }
    }
};

// MIN_BLOCKS = CTAs per SM that __launch_bounds__ must leave registers for (2: <= 128 KiB smem
// each and <= 255 registers at 128 threads). GROUP: CTA rows per raster group. SPLIT: copy A
// and B of a slice at two different k16 steps. PREFETCH: loop_prefetch, else loop_simple.
#define DEFINE_SWIZZLED(NAME, BM, BN, BK, WM, WN, STAGES, GROUP, SPLIT, PREFETCH, MIN_BLOCKS)    \
    extern "C" __constant__ int NAME##_smem_bytes =                                            \
        SwizzledGemm<BM, BN, BK, WM, WN, STAGES, GROUP, SPLIT, PREFETCH>::SMEM_BYTES;          \
    extern "C" __global__ void __launch_bounds__(                                              \
        SwizzledGemm<BM, BN, BK, WM, WN, STAGES, GROUP, SPLIT, PREFETCH>::THREADS, MIN_BLOCKS) \
        NAME(const half* A, const half* B, half* C, int M, int N, int K) {                     \
        SwizzledGemm<BM, BN, BK, WM, WN, STAGES, GROUP, SPLIT, PREFETCH>::run(A, B, C, M, N, K); \
    }

DEFINE_SWIZZLED(sw_256x128x64_s3, 256, 128, 64, 64, 64, 3, 8, false, true, 1)
DEFINE_SWIZZLED(sw_256x128x64_s4, 256, 128, 64, 64, 64, 4, 8, false, true, 1)
DEFINE_SWIZZLED(sw_256x128x64_s4_split, 256, 128, 64, 64, 64, 4, 8, true, true, 1)
DEFINE_SWIZZLED(sw_256x128x64_s4_g16, 256, 128, 64, 64, 64, 4, 16, false, true, 1)
DEFINE_SWIZZLED(sw_128x256x64_s4, 128, 256, 64, 64, 64, 4, 8, false, true, 1)
DEFINE_SWIZZLED(sw_128x256x64_s4_split, 128, 256, 64, 64, 64, 4, 8, true, true, 1)
DEFINE_SWIZZLED(sw_256x128x32_s6, 256, 128, 32, 64, 64, 6, 8, false, true, 1)
DEFINE_SWIZZLED(sw_128x256x32_s6, 128, 256, 32, 64, 64, 6, 8, false, true, 1)
DEFINE_SWIZZLED(sw_256x128x128_s2, 256, 128, 128, 64, 64, 2, 8, true, true, 1)  // half the barriers
DEFINE_SWIZZLED(sw_128x128x64_s3_x2, 128, 128, 64, 64, 64, 3, 8, false, true, 2)
DEFINE_SWIZZLED(sw_128x128x32_s6_x2, 128, 128, 32, 64, 64, 6, 8, false, true, 2)
// 16 warps of 64 x 32 per SM (<= 128 registers each), without the cross-slice prefetch:
DEFINE_SWIZZLED(sw_256x128x64_s4_w64x32, 256, 128, 64, 64, 32, 4, 8, false, false, 1)
DEFINE_SWIZZLED(sw_128x128x64_s3_w64x32_x2, 128, 128, 64, 64, 32, 3, 8, false, false, 2)
