// Runs one Gemm instantiation of wmma_gemm.cu on the host (cuda_on_host.h) and compares C with
// the exact product: inputs are multiples of 1/4 in [-1, 1] (or [0, 1] when positive), so every
// fp32 sum is exact and C must equal the fp16 rounding of the double-precision sum bit for bit.
// Build: g++ -std=c++20 -pthread -DBM_=.. -DBN_=.. -DBK_=.. -DWM_=.. -DWN_=.. -DSTAGES_=..
//        -DALIGNED_=true|false -I<dir with gemm.inc>; gemm.inc is the test's cut of the .cu.
// Usage: driver M N K OFFSET SEED [POSITIVE]; OFFSET elements shift A's and B's base address.
// Exit 0: C is exact; 1: wrong values (the first one printed); 3: a misaligned cp.async.
#include "cuda_on_host.h"
#include "gemm.inc"

int main(int argc, char** argv) {
    const int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), off = atoi(argv[4]);
    const int positive = argc > 6 && atoi(argv[6]);
    srand(atoi(argv[5]));
    using G = Gemm<BM_, BN_, BK_, WM_, WN_, STAGES_, ALIGNED_>;
    half* abuf = new half[(size_t)M * K + off];  // exact sizes: ASan sees any overreach
    half* bbuf = new half[(size_t)K * N + off];
    half* C = new half[(size_t)M * N];
    auto draw = [&] { return __float2half((positive ? rand() % 5 : rand() % 9 - 4) / 4.0f); };
    for (size_t i = 0; i < (size_t)M * K + off; ++i) abuf[i] = draw();
    for (size_t i = 0; i < (size_t)K * N + off; ++i) bbuf[i] = draw();
    for (size_t i = 0; i < (size_t)M * N; ++i) C[i].x = 0x7e00;  // NaN: not written
    const half *A = abuf + off, *B = bbuf + off;
    const int grid = (M + BM_ - 1) / BM_ * ((N + BN_ - 1) / BN_);
    for (int blk = 0; blk < grid; ++blk) {
        blockIdx.x = blk;
        std::barrier<> cta(G::THREADS);
        for (int w = 0; w < G::THREADS / 32; ++w) warp_bar[w] = new std::barrier<>(32);
        cta_bar = &cta;
        std::vector<std::thread> threads;
        for (int t = 0; t < G::THREADS; ++t)
            threads.emplace_back([=] {
                threadIdx.x = t;
                G::run(A, B, C, M, N, K);
            });
        for (auto& th : threads) th.join();
        for (int w = 0; w < G::THREADS / 32; ++w) delete warp_bar[w];
    }
    long bad = 0;
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            double s = 0;
            for (int k = 0; k < K; ++k)
                s += (double)__half2float(A[(size_t)m * K + k]) *
                     __half2float(B[(size_t)k * N + n]);
            const half want = __float2half((float)s), got = C[(size_t)m * N + n];
            if (want.x != got.x && bad++ == 0)
                std::printf("first mismatch at (%d, %d): got %g, want %g\n", m, n,
                            __half2float(got), __half2float(want));
        }
    std::printf("%ld of %ld wrong\n", bad, (long)M * N);
    delete[] abuf;
    delete[] bbuf;
    delete[] C;
    return bad != 0;
}
