// Known-wrong: the sums are right, but the intra-warp step is a shared-memory tree instead of
// register shuffles, so the PTX static rule (shuffles, no shared memory) rejects it, on a CPU.

// BUG (of the exercise): the 32 lanes exchange values through shared memory.
__device__ __forceinline__ float warp_reduce_sum(float v) {
    __shared__ float lanes[1024];
    volatile float* mine = lanes + (threadIdx.x & ~31);
    const int lane = threadIdx.x & 31;
    mine[lane] = v;
    __syncwarp();
    for (int offset = 16; offset > 0; offset >>= 1) {
        if (lane < offset) mine[lane] += mine[lane + offset];
        __syncwarp();
    }
    return mine[0];
}

// Warp sums meet in shared memory (one word per warp), then warp 0 reduces them.
// The result is valid in thread 0.
__device__ __forceinline__ float block_reduce_sum(float v) {
    __shared__ float warp_sums[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_reduce_sum(v);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (blockDim.x >> 5) ? warp_sums[lane] : 0.0f;
        v = warp_reduce_sum(v);
    }
    return v;
}

// Pass 1. x + head is 16-byte aligned (the launcher computes head in 0..3), so the body is
// read with float4 loads; four independent loads per iteration keep enough bytes in flight.
extern "C" __global__ void reduce_sum_partials(const float* __restrict__ x, float* partials,
                                               long long n, int head) {
    const long long tid = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
    if (tid < head) a0 += x[tid];
    const float4* body = reinterpret_cast<const float4*>(x + head);
    const long long n4 = (n - head) / 4;
    long long i = tid;
    for (; i + 3 * stride < n4; i += 4 * stride) {
        const float4 v0 = __ldg(body + i), v1 = __ldg(body + i + stride);
        const float4 v2 = __ldg(body + i + 2 * stride), v3 = __ldg(body + i + 3 * stride);
        a0 += (v0.x + v0.y) + (v0.z + v0.w);
        a1 += (v1.x + v1.y) + (v1.z + v1.w);
        a2 += (v2.x + v2.y) + (v2.z + v2.w);
        a3 += (v3.x + v3.y) + (v3.z + v3.w);
    }
    for (; i < n4; i += stride) {
        const float4 v = __ldg(body + i);
        a0 += (v.x + v.y) + (v.z + v.w);
    }
    for (long long t = head + 4 * n4 + tid; t < n; t += stride) a1 += x[t];  // < 4 tail floats
    const float s = block_reduce_sum((a0 + a1) + (a2 + a3));
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// Pass 2: one block of 1024 threads sums the (at most a few thousand) partials.
extern "C" __global__ void reduce_sum_final(const float* __restrict__ partials, float* out,
                                            int n) {
    float v = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) v += partials[i];
    v = block_reduce_sum(v);
    if (threadIdx.x == 0) *out = v;
}
