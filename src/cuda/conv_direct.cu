// kiln's direct convolution for layers with few input channels (see conv_ext.cuh): stems (Cin <= 4, any window) and
// 1x1 convolutions with Cin <= 64, which are memory-bound: a GEMM with K = Cin leaves the Tensor Cores idle and a
// separate epilogue pass doubles the traffic. Here one pass reads x once and writes y once, epilogue fused.
//
// Work split (variants 0-2): a warp owns one channel group of 8 output channels and a tile of 32*PIX output pixels (lane l computes
// pixels l, l+32, ...: consecutive lanes read consecutive pixels). The 8 warps of a block cover CGB channel groups x
// (8/CGB) tiles; the block's weights slice [K][CGB*8] sits in shared memory and every lane of a warp reads the same
// weights (broadcast). Blocks are ordered channel-group-block fastest so the blocks reading the same input pixels run
// together (the input comes from L2 once). Variants 3-5 split a warp into 32/L pixels x L channel groups instead, so
// stores fill whole sectors (the split above writes 16 bytes per lane at a stride of Cout elements).
#include "conv_ext.cuh"

namespace kc {

namespace {

__device__ __forceinline__ float ldf(const float *p) { return *p; }
__device__ __forceinline__ float ldf(const __half *p) { return __half2float(*p); }
template <class T> __device__ __forceinline__ T cvtf(float v);
template <> __device__ __forceinline__ float cvtf<float>(float v) { return v; }
template <> __device__ __forceinline__ __half cvtf<__half>(float v) { return __float2half_rn(v); }

// The activation: none and the ReLU family inline, every other kind through one out-of-line call (inlining the whole
// kiln_act_apply switch 32 times per kernel made ptxas take minutes and bloated the code).
__device__ __noinline__ float act_slow(const kiln_act act, float v) { return kiln_act_apply(&act, v); }
__device__ __forceinline__ float act_fast(const kiln_act &act, float v)
{
    if (act.kind == KILN_ACT_NONE) return v;
    if (act.kind == KILN_ACT_RELU) return v > act.gamma ? fminf(v, act.beta) : act.alpha * (v - act.gamma);
    return act_slow(act, v);
}

constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr int kSmemFloats = 12288; // 48 KiB of weights per block

// CIN > 0: the input channel count as a constant (stems); VEC: FP16 input read 8 channels at a time (Cin % 8 == 0).
template <class T, int PIX, int CIN, bool VEC>
__global__ void __launch_bounds__(kThreads) k_direct(const T *__restrict__ x, const float *__restrict__ wt,
                                                     const float *__restrict__ bias, const T *__restrict__ z,
                                                     T *__restrict__ y, int N, int H, int W, int Cin_rt, int OH, int OW,
                                                     int Cout, int Cp, int KH, int KW, int SH, int SW, int DH, int DW,
                                                     int PT, int PL, int CGB, int L, kiln_act act)
{
    extern __shared__ float4 smem4[];
    float *sw = (float *)smem4;
    const int Cin = CIN > 0 ? CIN : Cin_rt;
    const int CG = Cp / 8, ncgb = L ? 1 : (CG + CGB - 1) / CGB, cols = L ? Cp : CGB * 8;
    const int K = KH * KW * Cin;
    const int cgb = (int)(blockIdx.x % ncgb);
    for (int i = threadIdx.x; i < K * cols; i += kThreads) {
        const int k = i / cols, j = i % cols, co = cgb * cols + j;
        sw[i] = co < Cp ? wt[(int64_t)k * Cp + co] : 0.0f;
    }
    __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // Pixel q of row p of this lane: tile * rows * PIX + p * rows + pl (rows = pixels per warp row).
    int cg, rows, pl, wofs;
    int64_t tile;
    if (L) {
        // Coalesced split: L lanes per pixel (consecutive channel groups), 32 / L pixels per warp row, so a store
        // instruction writes whole 32-byte sectors; warps cycle over the NG = CG / L channel-group sets of a tile.
        const int NG = CG / L;
        const int64_t wg = (int64_t)blockIdx.x * kWarps + warp;
        cg = (int)(wg % NG) * L + lane % L;
        tile = wg / NG;
        rows = 32 / L;
        pl = lane / L;
        wofs = cg * 8;
    } else {
        const int cgl = warp % CGB;
        cg = cgb * CGB + cgl;
        tile = (int64_t)(blockIdx.x / ncgb) * (kWarps / CGB) + warp / CGB;
        rows = 32;
        pl = lane;
        wofs = cgl * 8;
    }
    if (cg >= CG) return;
    const int64_t npix = (int64_t)N * OH * OW;
    float acc[PIX][8];
    int ihb[PIX], iwb[PIX];
    const T *xb[PIX];
    bool ok[PIX];
#pragma unroll
    for (int p = 0; p < PIX; p++) {
        const int64_t q = tile * rows * PIX + p * rows + pl;
        ok[p] = q < npix;
        const int64_t qq = ok[p] ? q : 0;
        const int ow = (int)(qq % OW), oh = (int)((qq / OW) % OH), n = (int)(qq / ((int64_t)OW * OH));
        ihb[p] = oh * SH - PT;
        iwb[p] = ow * SW - PL;
        xb[p] = x + (int64_t)n * H * W * Cin;
#pragma unroll
        for (int j = 0; j < 8; j++) acc[p][j] = 0.0f;
    }
    const float *wcol = sw + wofs;
    for (int kh = 0; kh < KH; kh++) {
        for (int kw = 0; kw < KW; kw++) {
            const T *xp[PIX];
#pragma unroll
            for (int p = 0; p < PIX; p++) {
                const int ih = ihb[p] + kh * DH, iw = iwb[p] + kw * DW;
                xp[p] = ok[p] && ih >= 0 && ih < H && iw >= 0 && iw < W ? xb[p] + ((int64_t)ih * W + iw) * Cin : nullptr;
            }
            const float *wk = wcol + (kh * KW + kw) * Cin * cols;
            if (VEC) {
                for (int c0 = 0; c0 < Cin; c0 += 8) {
                    float xv[PIX][8];
#pragma unroll
                    for (int p = 0; p < PIX; p++) {
                        uint4 v = make_uint4(0, 0, 0, 0);
                        if (xp[p]) v = *(const uint4 *)(xp[p] + c0);
                        const __half2 *h = (const __half2 *)&v;
#pragma unroll
                        for (int j = 0; j < 4; j++) {
                            const float2 f = __half22float2(h[j]);
                            xv[p][2 * j] = f.x, xv[p][2 * j + 1] = f.y;
                        }
                    }
#pragma unroll
                    for (int j = 0; j < 8; j++) {
                        const float4 w0 = *(const float4 *)(wk + (c0 + j) * cols), w1 = *(const float4 *)(wk + (c0 + j) * cols + 4);
#pragma unroll
                        for (int p = 0; p < PIX; p++) {
                            const float v = xv[p][j];
                            acc[p][0] += v * w0.x, acc[p][1] += v * w0.y, acc[p][2] += v * w0.z, acc[p][3] += v * w0.w;
                            acc[p][4] += v * w1.x, acc[p][5] += v * w1.y, acc[p][6] += v * w1.z, acc[p][7] += v * w1.w;
                        }
                    }
                }
            } else {
#pragma unroll
                for (int ci = 0; ci < Cin; ci++) {
                    const float4 w0 = *(const float4 *)(wk + ci * cols), w1 = *(const float4 *)(wk + ci * cols + 4);
#pragma unroll
                    for (int p = 0; p < PIX; p++) {
                        const float v = xp[p] ? ldf(xp[p] + ci) : 0.0f;
                        acc[p][0] += v * w0.x, acc[p][1] += v * w0.y, acc[p][2] += v * w0.z, acc[p][3] += v * w0.w;
                        acc[p][4] += v * w1.x, acc[p][5] += v * w1.y, acc[p][6] += v * w1.z, acc[p][7] += v * w1.w;
                    }
                }
            }
        }
    }
    const int co0 = cg * 8;
    float b[8];
#pragma unroll
    for (int j = 0; j < 8; j++) b[j] = bias[co0 + j];
#pragma unroll
    for (int p = 0; p < PIX; p++) {
        if (!ok[p]) continue;
        const int64_t q = tile * rows * PIX + p * rows + pl;
        const int64_t o = q * Cout + co0;
        float v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = acc[p][j] + b[j];
        if (sizeof(T) == 2 && Cout % 8 == 0) {
            if (z) {
                const uint4 zz = *(const uint4 *)(z + o);
                const __half2 *h = (const __half2 *)&zz;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const float2 f = __half22float2(h[j]);
                    v[2 * j] += f.x, v[2 * j + 1] += f.y;
                }
            }
            uint4 out;
            __half2 *h = (__half2 *)&out;
#pragma unroll
            for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(act_fast(act, v[2 * j]), act_fast(act, v[2 * j + 1]));
            *(uint4 *)(y + o) = out;
        } else if (sizeof(T) == 4 && Cout % 8 == 0) {
            float4 *y4 = (float4 *)(y + o);
            if (z) {
                const float4 z0 = ((const float4 *)(z + o))[0], z1 = ((const float4 *)(z + o))[1];
                v[0] += z0.x, v[1] += z0.y, v[2] += z0.z, v[3] += z0.w, v[4] += z1.x, v[5] += z1.y, v[6] += z1.z, v[7] += z1.w;
            }
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] = act_fast(act, v[j]);
            y4[0] = make_float4(v[0], v[1], v[2], v[3]);
            y4[1] = make_float4(v[4], v[5], v[6], v[7]);
        } else {
#pragma unroll
            for (int j = 0; j < 8; j++) {
                if (co0 + j >= Cout) break;
                float t = v[j];
                if (z) t += ldf(z + o + j);
                y[o + j] = cvtf<T>(act_fast(act, t));
            }
        }
    }
}

template <class T, int PIX, int CIN, bool VEC>
void launch(const T *x, const float *wt, const float *bias, const T *z, T *y, int N, const ConvGeom &g, int CGB,
            kiln_act act, cudaStream_t s)
{
    const int Cp = (g.Cout + 7) / 8 * 8, CG = Cp / 8, ncgb = (CG + CGB - 1) / CGB;
    const int L = CGB < 0 ? -CGB : 0; // CGB < 0: the coalesced split with L = -CGB lanes per pixel
    const int64_t npix = (int64_t)N * g.OH * g.OW;
    int64_t blocks;
    size_t smem;
    if (L) {
        const int64_t tiles = (npix + (32 / L) * PIX - 1) / ((32 / L) * PIX), warps = tiles * (CG / L);
        blocks = (warps + kWarps - 1) / kWarps;
        smem = sizeof(float) * (size_t)g.KH * g.KW * g.Cin * Cp;
    } else {
        const int64_t tiles = (npix + 32 * PIX - 1) / (32 * PIX), tpb = kWarps / CGB;
        blocks = (tiles + tpb - 1) / tpb * ncgb;
        smem = sizeof(float) * (size_t)g.KH * g.KW * g.Cin * CGB * 8;
    }
    k_direct<T, PIX, CIN, VEC><<<(unsigned)blocks, kThreads, smem, s>>>(x, wt, bias, z, y, N, g.H, g.W, g.Cin, g.OH, g.OW,
                                                                        g.Cout, Cp, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW,
                                                                        g.PT, g.PL, L ? 1 : CGB, L, act);
}

template <class T, int PIX>
void dispatch_cin(const T *x, const float *wt, const float *bias, const T *z, T *y, int N, const ConvGeom &g, int CGB,
                  kiln_act act, cudaStream_t s)
{
    if (sizeof(T) == 2 && g.Cin % 8 == 0) return launch<T, PIX, 0, sizeof(T) == 2>(x, wt, bias, z, y, N, g, CGB, act, s);
    if (g.Cin == 3) return launch<T, PIX, 3, false>(x, wt, bias, z, y, N, g, CGB, act, s); // RGB stems
    return launch<T, PIX, 0, false>(x, wt, bias, z, y, N, g, CGB, act, s);
}

// Channel groups per block: the largest of 8/4/2/1 that divides the group count (no idle warps) and keeps the weight
// slice within 48 KiB of shared memory.
int pick_cgb(const ConvGeom &g)
{
    const int CG = (g.Cout + 7) / 8, K = g.KH * g.KW * g.Cin;
    int cgb = 8;
    while (cgb > 1 && (CG % cgb || K * cgb * 8 > kSmemFloats)) cgb /= 2;
    return cgb;
}

}  // namespace

// Lanes per pixel of the coalesced split (variants 3-5): the largest of 8/4/2 dividing the channel-group count, with
// every weight in shared memory; 0 when it does not apply.
int direct_lanes(const ConvGeom &g)
{
    const int Cp = (g.Cout + 7) / 8 * 8, CG = Cp / 8;
    if (g.KH * g.KW * g.Cin * Cp > kSmemFloats) return 0;
    for (int L = 8; L >= 2; L /= 2)
        if (CG % L == 0) return L;
    return 0;
}

bool direct_supported(const ConvGeom &g)
{
    const bool stem = g.Cin <= 4;
    const bool pointwise = g.KH == 1 && g.KW == 1 && g.Cin <= 64;
    return (stem || pointwise) && g.KH * g.KW * g.Cin * 8 <= kSmemFloats;
}

template <class T>
int direct_conv(const T *x, const float *wt, const float *bias, const T *z, T *y, int N, const ConvGeom &g, int variant,
                kiln_act act, cudaStream_t s)
{
    int cgb = pick_cgb(g);
    if (variant >= 3) {
        const int L = direct_lanes(g);
        if (!L) return 1;
        cgb = -L, variant -= 3;
    }
    switch (variant) {
    case 0: dispatch_cin<T, 1>(x, wt, bias, z, y, N, g, cgb, act, s); break;
    case 1: dispatch_cin<T, 2>(x, wt, bias, z, y, N, g, cgb, act, s); break;
    case 2: dispatch_cin<T, 4>(x, wt, bias, z, y, N, g, cgb, act, s); break;
    default: return 1;
    }
    return 0;
}

// ---- im2col with a padded row ----------------------------------------------------------------------------------
template <class T>
__global__ void k_im2col_ld(const T *x, T *col, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW,
                            int DH, int DW, int PT, int PL, int ldk, int64_t n)
{
    const int K = KH * KW * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t m = i / ldk;
        const int k = (int)(i % ldk);
        float v = 0.0f;
        if (k < K) {
            const int ci = k % C, kk = k / C, kw = kk % KW, kh = kk / KW;
            const int ow = (int)(m % OW), oh = (int)((m / OW) % OH), b = (int)(m / ((int64_t)OW * OH));
            const int ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = ldf(x + (((int64_t)b * H + ih) * W + iw) * C + ci);
        }
        col[i] = cvtf<T>(v);
    }
}
template <class T>
void im2col_ld(const T *x, T *col, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW, int DH,
               int DW, int PT, int PL, int ldk, cudaStream_t s)
{
    const int64_t n = (int64_t)N * OH * OW * ldk;
    int64_t b = (n + 255) / 256;
    if (b > 65535LL * 16) b = 65535LL * 16;
    k_im2col_ld<T><<<(unsigned)b, 256, 0, s>>>(x, col, N, H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL, ldk, n);
}

template int direct_conv<float>(const float *, const float *, const float *, const float *, float *, int,
                                const ConvGeom &, int, kiln_act, cudaStream_t);
template int direct_conv<__half>(const __half *, const float *, const float *, const __half *, __half *, int,
                                 const ConvGeom &, int, kiln_act, cudaStream_t);
template void im2col_ld<float>(const float *, float *, int, int, int, int, int, int, int, int, int, int, int, int, int,
                               int, int, cudaStream_t);
template void im2col_ld<__half>(const __half *, __half *, int, int, int, int, int, int, int, int, int, int, int, int,
                                int, int, int, cudaStream_t);

}  // namespace kc
