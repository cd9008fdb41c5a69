// Host stand-ins for the CUDA features solutions/wmma_gemm/wmma_gemm.cu's Gemm uses, so its own
// text runs on a CPU (tests/unit/test_wmma_gemm_host.py): one std::thread per CUDA thread,
// std::barrier for __syncthreads and for the warp-collective ldmatrix and mma.sync (fragment
// layouts as the PTX ISA gives them). cp.async copies are queued per thread and land at the
// latest moment the PTX allows (the cp.async.wait_group that retires their group), so a read
// before its wait sees stale data; a misaligned cp.async source exits 3, as the GPU faults.
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#define __device__
#define __forceinline__ inline
#define __restrict__
using std::min;

struct half {
    uint16_t x;
};
struct half2 {
    half a, b;
};
inline half __float2half(float f) {
    _Float16 h = (_Float16)f;
    half r;
    std::memcpy(&r.x, &h, 2);
    return r;
}
inline float __half2float(half h) {
    _Float16 f;
    std::memcpy(&f, &h.x, 2);
    return (float)f;
}
inline unsigned short __half_as_ushort(half h) { return h.x; }
inline half2 __floats2half2_rn(float a, float b) { return {__float2half(a), __float2half(b)}; }

struct Dim {
    unsigned x;
};
thread_local Dim threadIdx;
Dim blockIdx;
alignas(16) unsigned char SMEM[232448];  // one CTA at a time: 227 KiB
std::barrier<>* cta_bar;
std::barrier<>* warp_bar[32];
void __syncthreads() { cta_bar->arrive_and_wait(); }

inline unsigned smem_u32(const void* p) {
    return (unsigned)((const unsigned char*)p - SMEM);
}

struct Copy {
    unsigned dst;
    const void* src;
    int bytes;
};
thread_local std::vector<std::vector<Copy>> groups;
thread_local std::vector<Copy> open_group;
inline void cp_async_16(unsigned dst, const void* src, int src_bytes) {
    if (src_bytes > 0 && (uintptr_t)src % 16) {
        std::fprintf(stderr, "misaligned address: cp.async from %p\n", src);
        std::_Exit(3);
    }
    if (dst % 16 || dst + 16 > sizeof(SMEM)) {
        std::fprintf(stderr, "cp.async to shared offset %u\n", dst);
        std::_Exit(4);
    }
    open_group.push_back({dst, src, src_bytes});
}
inline void cp_async_commit() {
    groups.push_back(open_group);
    open_group.clear();
}
template <int N>
inline void cp_async_wait() {
    while ((int)groups.size() > N) {
        for (const Copy& c : groups.front()) {
            std::memset(SMEM + c.dst, 0, 16);
            std::memcpy(SMEM + c.dst, c.src, c.bytes);
        }
        groups.erase(groups.begin());
    }
}
// copy_8_guarded's st.shared.v4.b32 (the test swaps its asm statement for this call).
inline void st_shared_v4(unsigned dst, unsigned w0, unsigned w1, unsigned w2, unsigned w3) {
    if (dst % 16 || dst + 16 > sizeof(SMEM)) {
        std::fprintf(stderr, "st.shared to offset %u\n", dst);
        std::_Exit(4);
    }
    unsigned w[4] = {w0, w1, w2, w3};
    std::memcpy(SMEM + dst, w, 16);
}

// Warp exchange: every lane posts, all wait, every lane reads, all wait.
struct Post {
    unsigned addr;
    unsigned a[4], b0, b1;
};
Post posts[32][32];  // [warp][lane]: at most 1024 threads
inline int lane_id() { return threadIdx.x & 31; }
inline int warp_id() { return threadIdx.x >> 5; }
inline uint16_t smem_half(unsigned byte) {
    uint16_t v;
    std::memcpy(&v, SMEM + byte, 2);
    return v;
}
inline unsigned smem_word(unsigned byte) {
    unsigned v;
    std::memcpy(&v, SMEM + byte, 4);
    return v;
}

// ldmatrix .x4: lanes 8m..8m+7 give the 8 row addresses of matrix m; lane l receives, of each
// matrix, row l / 4, columns 2 (l % 4) and 2 (l % 4) + 1 (.trans: row and column swapped).
template <bool TRANS>
inline void ldmatrix(unsigned (&r)[4], unsigned addr) {
    const int w = warp_id(), l = lane_id();
    posts[w][l].addr = addr;
    warp_bar[w]->arrive_and_wait();
    for (int m = 0; m < 4; ++m) {
        if (!TRANS) {
            r[m] = smem_word(posts[w][m * 8 + l / 4].addr + 4 * (l % 4));
        } else {
            const unsigned lo = smem_half(posts[w][m * 8 + 2 * (l % 4)].addr + 2 * (l / 4));
            const unsigned hi = smem_half(posts[w][m * 8 + 2 * (l % 4) + 1].addr + 2 * (l / 4));
            r[m] = lo | hi << 16;
        }
    }
    warp_bar[w]->arrive_and_wait();
}
inline void ldmatrix_x4(unsigned (&r)[4], unsigned addr) { ldmatrix<false>(r, addr); }
inline void ldmatrix_x4_trans(unsigned (&r)[4], unsigned addr) { ldmatrix<true>(r, addr); }

inline float lo_f(unsigned w) { return __half2float(half{(uint16_t)(w & 0xffff)}); }
inline float hi_f(unsigned w) { return __half2float(half{(uint16_t)(w >> 16)}); }

// mma.m16n8k16.row.col: the PTX ISA's fragment layouts, g = lane / 4, q = lane % 4.
inline void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    const int w = warp_id(), l = lane_id();
    Post& p = posts[w][l];
    std::memcpy(p.a, a, sizeof p.a);
    p.b0 = b0, p.b1 = b1;
    warp_bar[w]->arrive_and_wait();
    float A[16][16], B[16][8];
    for (int L = 0; L < 32; ++L) {
        const int g = L / 4, q = L % 4;
        const Post& o = posts[w][L];
        A[g][2 * q] = lo_f(o.a[0]), A[g][2 * q + 1] = hi_f(o.a[0]);
        A[g + 8][2 * q] = lo_f(o.a[1]), A[g + 8][2 * q + 1] = hi_f(o.a[1]);
        A[g][2 * q + 8] = lo_f(o.a[2]), A[g][2 * q + 9] = hi_f(o.a[2]);
        A[g + 8][2 * q + 8] = lo_f(o.a[3]), A[g + 8][2 * q + 9] = hi_f(o.a[3]);
        B[2 * q][g] = lo_f(o.b0), B[2 * q + 1][g] = hi_f(o.b0);
        B[2 * q + 8][g] = lo_f(o.b1), B[2 * q + 9][g] = hi_f(o.b1);
    }
    warp_bar[w]->arrive_and_wait();
    const int g = l / 4, q = l % 4;
    for (int e = 0; e < 4; ++e) {
        const int row = g + (e / 2) * 8, col = 2 * q + e % 2;
        float s = d[e];
        for (int k = 0; k < 16; ++k) s += A[row][k] * B[k][col];
        d[e] = s;
    }
}
