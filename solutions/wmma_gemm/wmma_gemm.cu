// fp16 GEMM on the Tensor Cores with mma.sync (m16n8k16, fp32 accumulators), Ampere style:
// a multi-stage cp.async pipeline fills padded shared-memory tiles, ldmatrix feeds the
// fragments, each warp owns a WM x WN block of C. One CTA computes a BM x BN tile of C.
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

#define DEFINE_GEMM(NAME, BM, BN, BK, WM, WN, STAGES, ALIGNED)                                 \
    extern "C" __global__ void __launch_bounds__(Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::THREADS, 1) \
        NAME(const half* A, const half* B, half* C, int M, int N, int K) {                    \
        Gemm<BM, BN, BK, WM, WN, STAGES, ALIGNED>::run(A, B, C, M, N, K);                     \
    }

DEFINE_GEMM(hgemm_256x128x64_s3, 256, 128, 64, 64, 64, 3, true)
DEFINE_GEMM(hgemm_128x256x64_s3, 128, 256, 64, 64, 64, 3, true)
DEFINE_GEMM(hgemm_128x128x64_s3, 128, 128, 64, 64, 64, 3, true)
DEFINE_GEMM(hgemm_64x64_any, 64, 64, 32, 32, 32, 2, false)
