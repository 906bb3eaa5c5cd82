// kiln's own CUDA kernels: see kernels.cuh. Each is a plain grid-stride loop over outputs with the channel axis
// innermost (consecutive threads touch consecutive addresses), float arithmetic, and the fused activation last.
#include "kernels.cuh"

namespace kc {

static inline int blocks_for(int64_t n, int threads = 256)
{
    int64_t b = (n + threads - 1) / threads;
    if (b > 65535LL * 16) b = 65535LL * 16; // grid-stride loops cover the rest
    return (int)(b < 1 ? 1 : b);
}

__device__ __forceinline__ float ld(const float *p) { return *p; }
__device__ __forceinline__ float ld(const __half *p) { return __half2float(*p); }
template <class T> __device__ __forceinline__ T cvt(float v);
template <> __device__ __forceinline__ float cvt<float>(float v) { return v; }
template <> __device__ __forceinline__ __half cvt<__half>(float v) { return __float2half_rn(v); }

#define GRID_LOOP(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// ---- epilogue ----------------------------------------------------------------------------------------------------
template <class T>
__global__ void k_epilogue(T *y, const float *bias, const T *z, int64_t n, int64_t C, kiln_act act)
{
    GRID_LOOP(i, n)
    {
        float v = ld(y + i);
        if (bias) v += bias[i % C];
        if (z) v += ld(z + i);
        y[i] = cvt<T>(kiln_act_apply(&act, v));
    }
}
// Vectorised FP16 form: two channels per thread (C even).
__global__ void k_epilogue_h2(__half2 *y, const float2 *bias, const __half2 *z, int64_t n2, int64_t C2, kiln_act act)
{
    GRID_LOOP(i, n2)
    {
        float2 v = __half22float2(y[i]);
        if (bias) {
            float2 b = bias[i % C2];
            v.x += b.x, v.y += b.y;
        }
        if (z) {
            float2 w = __half22float2(z[i]);
            v.x += w.x, v.y += w.y;
        }
        y[i] = __floats2half2_rn(kiln_act_apply(&act, v.x), kiln_act_apply(&act, v.y));
    }
}
template <class T>
void epilogue(T *y, const float *bias, const T *z, int64_t n, int64_t C, kiln_act act, cudaStream_t s)
{
    if (sizeof(T) == 2 && C % 2 == 0) {
        int64_t n2 = n / 2;
        k_epilogue_h2<<<blocks_for(n2), 256, 0, s>>>((__half2 *)y, (const float2 *)bias, (const __half2 *)z, n2, C / 2,
                                                     act);
        return;
    }
    k_epilogue<T><<<blocks_for(n), 256, 0, s>>>(y, bias, z, n, C, act);
}

// ---- cast --------------------------------------------------------------------------------------------------------
template <class TI, class TO>
__global__ void k_cast(const TI *x, TO *y, int64_t n)
{
    GRID_LOOP(i, n) y[i] = cvt<TO>(ld(x + i));
}
template <class TI, class TO>
void cast(const TI *x, TO *y, int64_t n, cudaStream_t s)
{
    k_cast<TI, TO><<<blocks_for(n), 256, 0, s>>>(x, y, n);
}

// ---- depthwise conv ----------------------------------------------------------------------------------------------
template <class T>
__global__ void k_depthwise(const T *__restrict__ x, const float *__restrict__ w, const float *__restrict__ bias,
                            T *__restrict__ y, int N, int H, int W, int Cin, int OH, int OW, int Cout, int KH, int KW,
                            int SH, int SW, int DH, int DW, int PT, int PL, int m, kiln_act act)
{
    const int64_t n_out = (int64_t)N * OH * OW * Cout;
    GRID_LOOP(i, n_out)
    {
        const int co = (int)(i % Cout);
        int64_t p = i / Cout;
        const int ow = (int)(p % OW);
        p /= OW;
        const int oh = (int)(p % OH);
        const int n = (int)(p / OH);
        const int ci = co / m;
        float acc = 0.0f;
        const T *xn = x + (int64_t)n * H * W * Cin + ci;
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * SH - PT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; kw++) {
                const int iw = ow * SW - PL + kw * DW;
                if (iw < 0 || iw >= W) continue;
                acc += ld(xn + ((int64_t)ih * W + iw) * Cin) * w[(kh * KW + kw) * Cout + co];
            }
        }
        if (bias) acc += bias[co];
        y[i] = cvt<T>(kiln_act_apply(&act, acc));
    }
}
// FP16, depth multiplier 1, C even: two channels per thread with half2 loads.
__global__ void k_depthwise_h2(const __half2 *__restrict__ x, const float2 *__restrict__ w,
                               const float2 *__restrict__ bias, __half2 *__restrict__ y, int N, int H, int W, int C2,
                               int OH, int OW, int KH, int KW, int SH, int SW, int DH, int DW, int PT, int PL,
                               kiln_act act)
{
    const int64_t n_out = (int64_t)N * OH * OW * C2;
    GRID_LOOP(i, n_out)
    {
        const int c = (int)(i % C2);
        int64_t p = i / C2;
        const int ow = (int)(p % OW);
        p /= OW;
        const int oh = (int)(p % OH);
        const int n = (int)(p / OH);
        float ax = 0.0f, ay = 0.0f;
        const __half2 *xn = x + (int64_t)n * H * W * C2 + c;
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * SH - PT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; kw++) {
                const int iw = ow * SW - PL + kw * DW;
                if (iw < 0 || iw >= W) continue;
                const float2 v = __half22float2(xn[((int64_t)ih * W + iw) * C2]);
                const float2 k = w[(kh * KW + kw) * C2 + c];
                ax += v.x * k.x;
                ay += v.y * k.y;
            }
        }
        if (bias) ax += bias[c].x, ay += bias[c].y;
        y[i] = __floats2half2_rn(kiln_act_apply(&act, ax), kiln_act_apply(&act, ay));
    }
}
// FP16, depth multiplier 1, C % 8 == 0: eight channels per thread, 16-byte loads and stores.
__global__ void k_depthwise_h8(const uint4 *__restrict__ x, const float4 *__restrict__ w, const float4 *__restrict__ bias,
                               uint4 *__restrict__ y, int N, int H, int W, int C8, int OH, int OW, int KH, int KW, int SH,
                               int SW, int DH, int DW, int PT, int PL, kiln_act act)
{
    const int64_t n_out = (int64_t)N * OH * OW * C8;
    GRID_LOOP(i, n_out)
    {
        const int c = (int)(i % C8);
        int64_t p = i / C8;
        const int ow = (int)(p % OW);
        p /= OW;
        const int oh = (int)(p % OH);
        const int n = (int)(p / OH);
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const uint4 *xn = x + (int64_t)n * H * W * C8 + c;
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * SH - PT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; kw++) {
                const int iw = ow * SW - PL + kw * DW;
                if (iw < 0 || iw >= W) continue;
                const uint4 v = xn[((int64_t)ih * W + iw) * C8];
                const __half2 *h = (const __half2 *)&v;
                const float4 k0 = w[((kh * KW + kw) * C8 + c) * 2], k1 = w[((kh * KW + kw) * C8 + c) * 2 + 1];
                const float2 a0 = __half22float2(h[0]), a1 = __half22float2(h[1]), a2 = __half22float2(h[2]),
                             a3 = __half22float2(h[3]);
                acc[0] += a0.x * k0.x, acc[1] += a0.y * k0.y, acc[2] += a1.x * k0.z, acc[3] += a1.y * k0.w;
                acc[4] += a2.x * k1.x, acc[5] += a2.y * k1.y, acc[6] += a3.x * k1.z, acc[7] += a3.y * k1.w;
            }
        }
        if (bias) {
            const float4 b0 = bias[c * 2], b1 = bias[c * 2 + 1];
            acc[0] += b0.x, acc[1] += b0.y, acc[2] += b0.z, acc[3] += b0.w;
            acc[4] += b1.x, acc[5] += b1.y, acc[6] += b1.z, acc[7] += b1.w;
        }
        uint4 o;
        __half2 *oh2 = (__half2 *)&o;
#pragma unroll
        for (int k = 0; k < 4; k++) oh2[k] = __floats2half2_rn(kiln_act_apply(&act, acc[2 * k]), kiln_act_apply(&act, acc[2 * k + 1]));
        y[i] = o;
    }
}
template <class T>
void depthwise(const T *x, const float *w, const float *bias, T *y, int N, int H, int W, int Cin, int OH, int OW,
               int Cout, int KH, int KW, int SH, int SW, int DH, int DW, int PT, int PL, kiln_act act, cudaStream_t s)
{
    const int m = Cout / Cin;
    if (sizeof(T) == 2 && m == 1 && Cin % 8 == 0 && ((uintptr_t)w % 16) == 0 && ((uintptr_t)bias % 16) == 0) {
        int64_t n = (int64_t)N * OH * OW * (Cin / 8);
        k_depthwise_h8<<<blocks_for(n), 256, 0, s>>>((const uint4 *)x, (const float4 *)w, (const float4 *)bias, (uint4 *)y, N,
                                                     H, W, Cin / 8, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL, act);
        return;
    }
    if (sizeof(T) == 2 && m == 1 && Cin % 2 == 0) {
        int64_t n = (int64_t)N * OH * OW * (Cin / 2);
        k_depthwise_h2<<<blocks_for(n), 256, 0, s>>>((const __half2 *)x, (const float2 *)w, (const float2 *)bias,
                                                     (__half2 *)y, N, H, W, Cin / 2, OH, OW, KH, KW, SH, SW, DH, DW,
                                                     PT, PL, act);
        return;
    }
    int64_t n = (int64_t)N * OH * OW * Cout;
    k_depthwise<T><<<blocks_for(n), 256, 0, s>>>(x, w, bias, y, N, H, W, Cin, OH, OW, Cout, KH, KW, SH, SW, DH, DW, PT,
                                                 PL, m, act);
}

// ---- pooling ----------------------------------------------------------------------------------------------------
template <class T>
__global__ void k_pool2d(const T *x, T *y, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW,
                         int PT, int PL, int is_max, int cip, kiln_act act)
{
    const int64_t n_out = (int64_t)N * OH * OW * C;
    GRID_LOOP(i, n_out)
    {
        const int c = (int)(i % C);
        int64_t p = i / C;
        const int ow = (int)(p % OW);
        p /= OW;
        const int oh = (int)(p % OH);
        const int n = (int)(p / OH);
        float acc = is_max ? -INFINITY : 0.0f;
        int cells = 0;
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * SH - PT + kh;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; kw++) {
                const int iw = ow * SW - PL + kw;
                if (iw < 0 || iw >= W) continue;
                const float v = ld(x + (((int64_t)n * H + ih) * W + iw) * C + c);
                acc = is_max ? fmaxf(acc, v) : acc + v;
                cells++;
            }
        }
        if (!is_max) {
            const int div = cip ? KH * KW : cells;
            acc = div ? acc / (float)div : 0.0f;
        }
        y[i] = cvt<T>(kiln_act_apply(&act, acc));
    }
}
__global__ void k_pool2d_h8(const uint4 *x, uint4 *y, int N, int H, int W, int C8, int OH, int OW, int KH, int KW, int SH,
                            int SW, int PT, int PL, int is_max, int cip, kiln_act act)
{
    const int64_t n_out = (int64_t)N * OH * OW * C8;
    GRID_LOOP(i, n_out)
    {
        const int c = (int)(i % C8);
        int64_t p = i / C8;
        const int ow = (int)(p % OW);
        p /= OW;
        const int oh = (int)(p % OH);
        const int n = (int)(p / OH);
        float acc[8];
#pragma unroll
        for (int k = 0; k < 8; k++) acc[k] = is_max ? -INFINITY : 0.0f;
        int cells = 0;
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * SH - PT + kh;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; kw++) {
                const int iw = ow * SW - PL + kw;
                if (iw < 0 || iw >= W) continue;
                const uint4 v = x[(((int64_t)n * H + ih) * W + iw) * C8 + c];
                const __half2 *h = (const __half2 *)&v;
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    const float2 f = __half22float2(h[k]);
                    acc[2 * k] = is_max ? fmaxf(acc[2 * k], f.x) : acc[2 * k] + f.x;
                    acc[2 * k + 1] = is_max ? fmaxf(acc[2 * k + 1], f.y) : acc[2 * k + 1] + f.y;
                }
                cells++;
            }
        }
        const int div = cip ? KH * KW : cells;
        uint4 o;
        __half2 *o2 = (__half2 *)&o;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            float a0 = acc[2 * k], a1 = acc[2 * k + 1];
            if (!is_max) a0 = div ? a0 / (float)div : 0.0f, a1 = div ? a1 / (float)div : 0.0f;
            o2[k] = __floats2half2_rn(kiln_act_apply(&act, a0), kiln_act_apply(&act, a1));
        }
        y[i] = o;
    }
}
template <class T>
void pool2d(const T *x, T *y, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW, int PT,
            int PL, int is_max, int count_include_pad, kiln_act act, cudaStream_t s)
{
    if (sizeof(T) == 2 && C % 8 == 0) {
        int64_t n = (int64_t)N * OH * OW * (C / 8);
        k_pool2d_h8<<<blocks_for(n), 256, 0, s>>>((const uint4 *)x, (uint4 *)y, N, H, W, C / 8, OH, OW, KH, KW, SH, SW, PT, PL,
                                                  is_max, count_include_pad, act);
        return;
    }
    int64_t n = (int64_t)N * OH * OW * C;
    k_pool2d<T><<<blocks_for(n), 256, 0, s>>>(x, y, N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, is_max,
                                              count_include_pad, act);
}

// One warp-row per (n, channel group): threads of a block stride over HW for 32 consecutive channels, then reduce.
template <class T>
__global__ void k_global_pool(const T *x, T *y, int N, int HW, int C, int is_max, kiln_act act)
{
    // block: 32 channels (x) * 8 rows (y)
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int n = blockIdx.y;
    __shared__ float part[8][33];
    float acc = is_max ? -INFINITY : 0.0f;
    if (c < C) {
        const T *xn = x + (int64_t)n * HW * C + c;
        for (int p = threadIdx.y; p < HW; p += 8) {
            const float v = ld(xn + (int64_t)p * C);
            acc = is_max ? fmaxf(acc, v) : acc + v;
        }
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float r = part[0][threadIdx.x];
        for (int k = 1; k < 8; k++) r = is_max ? fmaxf(r, part[k][threadIdx.x]) : r + part[k][threadIdx.x];
        if (!is_max) r /= (float)HW;
        y[(int64_t)n * C + c] = cvt<T>(kiln_act_apply(&act, r));
    }
}
template <class T>
void global_pool(const T *x, T *y, int N, int HW, int C, int is_max, kiln_act act, cudaStream_t s)
{
    dim3 grid((C + 31) / 32, N), block(32, 8);
    k_global_pool<T><<<grid, block, 0, s>>>(x, y, N, HW, C, is_max, act);
}

// ---- softmax: one block per line ---------------------------------------------------------------------------------
template <class TI, class TO>
__global__ void k_softmax(const TI *x, TO *y, int64_t outer, int64_t len, int64_t inner, kiln_act act)
{
    const int64_t line = blockIdx.x;
    const int64_t o = line / inner, in = line % inner;
    const int64_t base = o * len * inner + in;
    __shared__ float red[32];
    float mx = -INFINITY;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) mx = fmaxf(mx, ld(x + base + k * inner));
    for (int off = 16; off; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : -INFINITY;
        for (int off = 16; off; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    mx = red[0];
    __syncthreads();
    float sum = 0.0f;
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x) sum += expf(ld(x + base + k * inner) - mx);
    for (int off = 16; off; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = sum;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : 0.0f;
        for (int off = 16; off; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    sum = red[0];
    for (int64_t k = threadIdx.x; k < len; k += blockDim.x)
        y[base + k * inner] = cvt<TO>(kiln_act_apply(&act, expf(ld(x + base + k * inner) - mx) / sum));
}
template <class TI, class TO>
void softmax(const TI *x, TO *y, int64_t outer, int64_t len, int64_t inner, kiln_act act, cudaStream_t s)
{
    int threads = len >= 1024 ? 1024 : len >= 256 ? 256 : 64;
    k_softmax<TI, TO><<<(unsigned)(outer * inner), threads, 0, s>>>(x, y, outer, len, inner, act);
}

// ---- pad, transpose, concat, slice ---------------------------------------------------------------------------------
template <class T>
__global__ void k_pad(const T *x, T *y, int rank, Dims6 xd, Dims6 od, Dims6 pb, float value, int64_t n, kiln_act act)
{
    GRID_LOOP(o, n)
    {
        int64_t rem = o, ix = 0, mul = 1;
        bool inside = true;
        for (int d = rank - 1; d >= 0; d--) {
            const int64_t id = rem % od.d[d];
            rem /= od.d[d];
            const int64_t j = id - pb.d[d];
            if (j < 0 || j >= xd.d[d]) inside = false;
            ix += j * mul;
            mul *= xd.d[d];
        }
        y[o] = cvt<T>(kiln_act_apply(&act, inside ? ld(x + ix) : value));
    }
}
template <class T>
void pad(const T *x, T *y, int rank, Dims6 xd, Dims6 od, Dims6 pb, float value, kiln_act act, cudaStream_t s)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= od.d[d];
    k_pad<T><<<blocks_for(n), 256, 0, s>>>(x, y, rank, xd, od, pb, value, n, act);
}

template <class T>
__global__ void k_transpose(const T *x, T *y, int rank, Dims6 od, Dims6 step, int64_t n, kiln_act act)
{
    GRID_LOOP(o, n)
    {
        int64_t rem = o, ix = 0;
        for (int d = rank - 1; d >= 0; d--) {
            ix += (rem % od.d[d]) * step.d[d];
            rem /= od.d[d];
        }
        y[o] = cvt<T>(kiln_act_apply(&act, ld(x + ix)));
    }
}
template <class T>
void transpose(const T *x, T *y, int rank, Dims6 od, Dims6 step, int64_t n, kiln_act act, cudaStream_t s)
{
    k_transpose<T><<<blocks_for(n), 256, 0, s>>>(x, y, rank, od, step, n, act);
}

template <class T>
__global__ void k_concat_part(const T *x, T *y, int64_t outer, int64_t block, int64_t row, int64_t offset)
{
    const int64_t n = outer * block;
    GRID_LOOP(i, n) y[(i / block) * row + offset + i % block] = x[i];
}
template <class T>
void concat_part(const T *x, T *y, int64_t outer, int64_t block, int64_t row, int64_t offset, cudaStream_t s)
{
    // 16-byte moves when everything lines up (the common channel concat of Inception blocks).
    const int V = 16 / (int)sizeof(T);
    if (block % V == 0 && row % V == 0 && offset % V == 0 && ((uintptr_t)x % 16) == 0 && ((uintptr_t)y % 16) == 0) {
        k_concat_part<float4><<<blocks_for(outer * block / V), 256, 0, s>>>((const float4 *)x, (float4 *)y, outer,
                                                                             block / V, row / V, offset / V);
        return;
    }
    k_concat_part<T><<<blocks_for(outer * block), 256, 0, s>>>(x, y, outer, block, row, offset);
}

template <class T>
__global__ void k_slice_last(const T *x, T *y, int64_t pixels, int64_t Cx, int64_t Cy, int64_t begin, kiln_act act)
{
    const int64_t n = pixels * Cy;
    GRID_LOOP(i, n) y[i] = cvt<T>(kiln_act_apply(&act, ld(x + (i / Cy) * Cx + begin + i % Cy)));
}
template <class T>
void slice_last(const T *x, T *y, int64_t pixels, int64_t Cx, int64_t Cy, int64_t begin, kiln_act act, cudaStream_t s)
{
    k_slice_last<T><<<blocks_for(pixels * Cy), 256, 0, s>>>(x, y, pixels, Cx, Cy, begin, act);
}

// ---- elementwise -------------------------------------------------------------------------------------------------
template <class T>
__global__ void k_act(const T *x, T *y, int64_t n, kiln_act act)
{
    GRID_LOOP(i, n) y[i] = cvt<T>(kiln_act_apply(&act, ld(x + i)));
}
template <class T>
void apply_act(const T *x, T *y, int64_t n, kiln_act act, cudaStream_t s)
{
    k_act<T><<<blocks_for(n), 256, 0, s>>>(x, y, n, act);
}

__device__ __forceinline__ float binop(int op, float a, float b)
{
    switch (op) {
    case KILN_OP_ADD: return a + b;
    case KILN_OP_SUB: return a - b;
    case KILN_OP_MUL: return a * b;
    case KILN_OP_DIV: return a / b;
    case KILN_OP_MAX: return fmaxf(a, b);
    default: return fminf(a, b);
    }
}
template <class TA, class TB, class T>
__global__ void k_binary(int op, const TA *a, const TB *b, T *y, int rank, Dims6 od, Dims6 as, Dims6 bs, int64_t n,
                         kiln_act act)
{
    GRID_LOOP(o, n)
    {
        int64_t rem = o, ia = 0, ib = 0;
        for (int d = rank - 1; d >= 0; d--) {
            const int64_t id = rem % od.d[d];
            rem /= od.d[d];
            ia += id * as.d[d];
            ib += id * bs.d[d];
        }
        y[o] = cvt<T>(kiln_act_apply(&act, binop(op, ld(a + ia), ld(b + ib))));
    }
}
template <class TA, class TB, class T>
__global__ void k_binary_same(int op, const TA *a, const TB *b, T *y, int64_t n, kiln_act act)
{
    GRID_LOOP(o, n) y[o] = cvt<T>(kiln_act_apply(&act, binop(op, ld(a + o), ld(b + o))));
}
// NHWC fast path: each operand is either dense (index o), per sample and channel [N,1,1,C] (index (o / HWC) * C + o % C)
// or per channel [C] (index o % C); covers squeeze-excite gates, biases and same-shape ops with two divisions at most.
__device__ __forceinline__ int64_t nc_index(int mode, int64_t o, int64_t HWC, int64_t C)
{
    return mode == 0 ? o : mode == 1 ? (o / HWC) * C + o % C : o % C;
}
template <class TA, class TB, class T>
__global__ void k_binary_nc(int op, const TA *a, const TB *b, T *y, int64_t n, int64_t HWC, int64_t C, int ma, int mb,
                            kiln_act act)
{
    GRID_LOOP(o, n) y[o] = cvt<T>(kiln_act_apply(&act, binop(op, ld(a + nc_index(ma, o, HWC, C)), ld(b + nc_index(mb, o, HWC, C)))));
}
// Which nc_index mode describes operand strides st over 4-D output dims od, or -1.
static int nc_mode(const Dims6 &od, const Dims6 &st)
{
    const int64_t C = od.d[3], HWC = od.d[1] * od.d[2] * od.d[3];
    if (st.d[3] == 1 && st.d[2] == C && st.d[1] == od.d[2] * C && st.d[0] == HWC) return 0;
    if (st.d[3] == 1 && (st.d[2] == 0 || od.d[2] == 1) && (st.d[1] == 0 || od.d[1] == 1) && (st.d[0] == C || od.d[0] == 1)) return 1;
    if (st.d[3] == 1 && (st.d[2] == 0 || od.d[2] == 1) && (st.d[1] == 0 || od.d[1] == 1) && (st.d[0] == 0 || od.d[0] == 1)) return 2;
    return -1;
}
template <class TA, class TB, class T>
void binary(int op, const TA *a, const TB *b, T *y, int rank, Dims6 od, Dims6 as, Dims6 bs, int64_t n, kiln_act act,
            cudaStream_t s)
{
    if (rank == 4) {
        const int ma = nc_mode(od, as), mb = nc_mode(od, bs);
        if (ma >= 0 && mb >= 0 && (ma || mb)) {
            k_binary_nc<TA, TB, T><<<blocks_for(n), 256, 0, s>>>(op, a, b, y, n, od.d[1] * od.d[2] * od.d[3], od.d[3], ma, mb,
                                                                 act);
            return;
        }
    }
    // Same shape (both dense strides equal to the output's): no index arithmetic.
    bool same = true;
    int64_t st = 1;
    for (int d = rank - 1; d >= 0; d--) {
        if (as.d[d] != st || bs.d[d] != st) same = false;
        st *= od.d[d];
    }
    if (same) {
        k_binary_same<TA, TB, T><<<blocks_for(n), 256, 0, s>>>(op, a, b, y, n, act);
        return;
    }
    k_binary<TA, TB, T><<<blocks_for(n), 256, 0, s>>>(op, a, b, y, rank, od, as, bs, n, act);
}

template <class T>
__global__ void k_scale_shift(const T *x, T *y, const float *scale, const float *shift, int64_t n, int64_t C,
                              kiln_act act)
{
    GRID_LOOP(i, n)
    {
        const int64_t c = i % C;
        y[i] = cvt<T>(kiln_act_apply(&act, ld(x + i) * scale[c] + shift[c]));
    }
}
template <class T>
void scale_shift(const T *x, T *y, const float *scale, const float *shift, int64_t n, int64_t C, kiln_act act,
                 cudaStream_t s)
{
    k_scale_shift<T><<<blocks_for(n), 256, 0, s>>>(x, y, scale, shift, n, C, act);
}

// ---- squeeze-excite -----------------------------------------------------------------------------------------------
// Channel sums over HW in chunks of SE_CHUNK pixels (grid.z), added atomically into sbuf (zeroed first): large early
// feature maps get many blocks instead of one long serial loop per channel.
#define SE_CHUNK 256
template <class T>
__global__ void k_se_pool(const T *x, float *sbuf, int N, int HW, int C)
{
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int n = blockIdx.y;
    const int p0 = blockIdx.z * SE_CHUNK, p1 = min(HW, p0 + SE_CHUNK);
    __shared__ float part[8][33];
    float acc = 0.0f;
    if (c < C)
        for (int p = p0 + threadIdx.y; p < p1; p += 8) acc += ld(x + ((int64_t)n * HW + p) * C + c);
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float r = 0.0f;
        for (int k = 0; k < 8; k++) r += part[k][threadIdx.x];
        atomicAdd(sbuf + (int64_t)n * C + c, r / (float)HW);
    }
}
// out[n, j] = act(b[j] + sum_k in[n, k] W[k, j]); one warp per output, lanes split k.
__global__ void k_small_fc(const float *in, const float *W, const float *b, float *out, int N, int K, int J,
                           kiln_act act)
{
    const int64_t warp = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warp >= (int64_t)N * J) return;
    const int n = (int)(warp / J), j = (int)(warp % J);
    float acc = 0.0f;
    for (int k = lane; k < K; k += 32) acc += in[(int64_t)n * K + k] * W[(int64_t)k * J + j];
    for (int off = 16; off; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) out[(int64_t)n * J + j] = kiln_act_apply(&act, acc + (b ? b[j] : 0.0f));
}
template <class T>
__global__ void k_se_scale(const T *x, T *y, const float *g, int64_t HWC, int C, int64_t n)
{
    GRID_LOOP(i, n) y[i] = cvt<T>(ld(x + i) * g[(i / HWC) * C + i % C]);
}
template <class T>
void squeeze_excite(const T *x, T *y, const float *w1, const float *b1, const float *w2, const float *b2, float *s_buf,
                    float *h_buf, float *g_buf, int N, int HW, int C, int Cr, kiln_act act, kiln_act act2,
                    cudaStream_t s)
{
    cudaMemsetAsync(s_buf, 0, sizeof(float) * (size_t)N * C, s);
    k_se_pool<T><<<dim3((C + 31) / 32, N, (HW + SE_CHUNK - 1) / SE_CHUNK), dim3(32, 8), 0, s>>>(x, s_buf, N, HW, C);
    k_small_fc<<<blocks_for((int64_t)N * Cr * 32), 256, 0, s>>>(s_buf, w1, b1, h_buf, N, C, Cr, act);
    k_small_fc<<<blocks_for((int64_t)N * C * 32), 256, 0, s>>>(h_buf, w2, b2, g_buf, N, Cr, C, act2);
    const int64_t n = (int64_t)N * HW * C;
    k_se_scale<T><<<blocks_for(n), 256, 0, s>>>(x, y, g_buf, (int64_t)HW * C, C, n);
}

// ---- im2col ----------------------------------------------------------------------------------------------------
template <class T>
__global__ void k_im2col(const T *x, T *col, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW,
                         int DH, int DW, int PT, int PL, int64_t n)
{
    const int64_t K = (int64_t)KH * KW * C;
    GRID_LOOP(i, n)
    {
        const int64_t m = i / K, k = i % K;
        const int ci = (int)(k % C), kk = (int)(k / C), kw = kk % KW, kh = kk / KW;
        const int ow = (int)(m % OW), oh = (int)((m / OW) % OH), b = (int)(m / ((int64_t)OW * OH));
        const int ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
        col[i] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[(((int64_t)b * H + ih) * W + iw) * C + ci] : cvt<T>(0.0f);
    }
}
template <class T>
void im2col(const T *x, T *col, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW, int DH, int DW,
            int PT, int PL, cudaStream_t s)
{
    const int64_t n = (int64_t)N * OH * OW * KH * KW * C;
    k_im2col<T><<<blocks_for(n), 256, 0, s>>>(x, col, N, H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL, n);
}

// ---- instantiations ----------------------------------------------------------------------------------------------
#define INST(T)                                                                                                       \
    template void epilogue<T>(T *, const float *, const T *, int64_t, int64_t, kiln_act, cudaStream_t);               \
    template void depthwise<T>(const T *, const float *, const float *, T *, int, int, int, int, int, int, int, int,   \
                               int, int, int, int, int, int, int, kiln_act, cudaStream_t);                             \
    template void pool2d<T>(const T *, T *, int, int, int, int, int, int, int, int, int, int, int, int, int, int,      \
                            kiln_act, cudaStream_t);                                                                   \
    template void global_pool<T>(const T *, T *, int, int, int, int, kiln_act, cudaStream_t);                         \
    template void softmax<T, T>(const T *, T *, int64_t, int64_t, int64_t, kiln_act, cudaStream_t);                   \
    template void pad<T>(const T *, T *, int, Dims6, Dims6, Dims6, float, kiln_act, cudaStream_t);                    \
    template void concat_part<T>(const T *, T *, int64_t, int64_t, int64_t, int64_t, cudaStream_t);                   \
    template void apply_act<T>(const T *, T *, int64_t, kiln_act, cudaStream_t);                                      \
    template void binary<T, T, T>(int, const T *, const T *, T *, int, Dims6, Dims6, Dims6, int64_t, kiln_act,         \
                                  cudaStream_t);                                                                      \
    template void scale_shift<T>(const T *, T *, const float *, const float *, int64_t, int64_t, kiln_act,             \
                                 cudaStream_t);                                                                       \
    template void transpose<T>(const T *, T *, int, Dims6, Dims6, int64_t, kiln_act, cudaStream_t);                   \
    template void im2col<T>(const T *, T *, int, int, int, int, int, int, int, int, int, int, int, int, int, int,          \
                            cudaStream_t);                                                                            \
    template void slice_last<T>(const T *, T *, int64_t, int64_t, int64_t, int64_t, kiln_act, cudaStream_t);          \
    template void squeeze_excite<T>(const T *, T *, const float *, const float *, const float *, const float *,        \
                                    float *, float *, float *, int, int, int, int, kiln_act, kiln_act, cudaStream_t);

INST(float)
INST(__half)
template void softmax<__half, float>(const __half *, float *, int64_t, int64_t, int64_t, kiln_act, cudaStream_t);
template void binary<__half, float, __half>(int, const __half *, const float *, __half *, int, Dims6, Dims6, Dims6,
                                           int64_t, kiln_act, cudaStream_t);
template void binary<float, __half, __half>(int, const float *, const __half *, __half *, int, Dims6, Dims6, Dims6,
                                           int64_t, kiln_act, cudaStream_t);
template void cast<float, __half>(const float *, __half *, int64_t, cudaStream_t);
template void cast<__half, float>(const __half *, float *, int64_t, cudaStream_t);

}  // namespace kc
