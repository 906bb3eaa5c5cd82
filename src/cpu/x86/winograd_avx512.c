/* AVX-512 Winograd F(4x4, 3x3), F(2x2, 3x3) and F(2x2, 5x5) convolution (see ../winograd.h for the algorithm and the blocking).
 *
 * Input and output transforms are vectorized over 16 channels (NHWC keeps them contiguous); the 36 (or 16) GEMMs per
 * block use a 14 x 32 register tile: 28 accumulators, two weight vectors and a broadcast (the K loop of full 14-row
 * tiles is inline assembly like kernels_avx512.c's avx512_uniform_14x32, because GCC spills row pointers; the tail
 * rows take a C loop). Compiled for AVX-512 through the target pragma below and only called when kiln_cpu_isa() says
 * AVX-512 is there. */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../winograd.h"
#include "avx512_common.h"
#include "avx512_tile14.h"

typedef __m512 V;
#define NR KILN_WINO_NR
#define MR KILN_WINO_MR
#define INLINE static inline __attribute__((always_inline))

static inline V vset(float x) { return _mm512_set1_ps(x); }

/* ---- 1-D transforms (applied along rows, then along columns) ------------------------------------------------- */

/* F(4x4,3x3) on interpolation points 0, 1, -1, 1/2, -2 and infinity, not Lavin's 0, +-1, +-2: the transforms'
 * largest entries drop (B^T 5 -> 2.5) and the float32 error with them (ResNet152 against float64 Keras, docs/
 * PERFORMANCE.md "Winograd F(4x4) points"). B^T rows: [1 -3/2 -2 3/2 1 0] [0 -1 1/2 5/2 1 0] [0 1 -5/2 1/2 1 0]
 * [0 -2 -1 2 1 0] [0 1/2 -1 -1/2 1 0] [0 1 -3/2 -2 3/2 1]; written through c = d4 - d2, e = d3 - d1. */
INLINE void bt6(const V *d, V *r)
{
    const V c = _mm512_sub_ps(d[4], d[2]), e = _mm512_sub_ps(d[3], d[1]);
    const V s = _mm512_add_ps(d[1], d[2]), m = _mm512_sub_ps(d[1], d[2]);
    r[0] = _mm512_fmadd_ps(vset(1.5f), e, _mm512_add_ps(_mm512_sub_ps(d[0], d[2]), c));
    r[1] = _mm512_fmadd_ps(vset(2.5f), e, _mm512_fmadd_ps(vset(1.5f), s, c));
    r[2] = _mm512_fmadd_ps(vset(0.5f), e, _mm512_fmadd_ps(vset(1.5f), m, c));
    r[3] = _mm512_fmadd_ps(vset(2.0f), e, c);
    r[4] = _mm512_fnmadd_ps(vset(0.5f), e, c);
    r[5] = _mm512_fmadd_ps(vset(1.5f), c, _mm512_fmadd_ps(vset(-2.0f), d[3], _mm512_add_ps(d[5], d[1])));
}

/* A^T of F(4x4,3x3), the same points: rows [1 1 1 1 1 0] [0 1 -1 1/2 -2 0] [0 1 1 1/4 4 0] [0 1 -1 1/8 -8 1]. */
INLINE void at6(const V *s, V *o)
{
    const V p12 = _mm512_add_ps(s[1], s[2]), m12 = _mm512_sub_ps(s[1], s[2]);
    o[0] = _mm512_add_ps(_mm512_add_ps(s[0], p12), _mm512_add_ps(s[3], s[4]));
    o[1] = _mm512_fmadd_ps(vset(0.5f), s[3], _mm512_fmadd_ps(vset(-2.0f), s[4], m12));
    o[2] = _mm512_fmadd_ps(vset(0.25f), s[3], _mm512_fmadd_ps(vset(4.0f), s[4], p12));
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(vset(0.125f), s[3], _mm512_fmadd_ps(vset(-8.0f), s[4], m12)), s[5]);
}

/* B^T of F(2x2,3x3): [1 0 -1 0] [0 1 1 0] [0 -1 1 0] [0 1 0 -1];  A^T: [1 1 1 0] [0 1 -1 -1]. */
INLINE void bt4(const V *d, V *r)
{
    r[0] = _mm512_sub_ps(d[0], d[2]);
    r[1] = _mm512_add_ps(d[1], d[2]);
    r[2] = _mm512_sub_ps(d[2], d[1]);
    r[3] = _mm512_sub_ps(d[1], d[3]);
}
INLINE void at4(const V *s, V *o)
{
    o[0] = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), s[2]);
    o[1] = _mm512_sub_ps(_mm512_sub_ps(s[1], s[2]), s[3]);
}

/* A^T of F(2x2,5x5) on the points of F(4x4,3x3) (its B^T is bt6): rows [1 1 1 1 1 0] [0 1 -1 1/2 -2 1]. */
INLINE void at62(const V *s, V *o)
{
    o[0] = _mm512_add_ps(_mm512_add_ps(s[0], _mm512_add_ps(s[1], s[2])), _mm512_add_ps(s[3], s[4]));
    o[1] = _mm512_add_ps(_mm512_fmadd_ps(vset(0.5f), s[3], _mm512_fmadd_ps(vset(-2.0f), s[4], _mm512_sub_ps(s[1], s[2]))),
                         s[5]);
}

/* al = alpha = m + r - 1: 6 (F(4x4,3x3), F(2x2,5x5)) or 4 (F(2x2,3x3)) */
INLINE void bt(const int al, const V *d, V *r)
{
    if (al == 6) bt6(d, r);
    else bt4(d, r);
}
INLINE void at(const int m, const int al, const V *s, V *o)
{
    if (m == 4) at6(s, o);
    else if (al == 6) at62(s, o);
    else at4(s, o);
}

/* ---- tile transforms ----------------------------------------------------------------------------------------- */

/* Transform input tile `tile` into v[pt * pstride + ci] (ci < CinP; lanes past Cin are 0). */
INLINE void input_tile(const int m, const int al, const kiln_wino_plan *p, const float *x, int64_t XP, int64_t tile,
                       float *v, int64_t pstride)
{
    enum { A = 6 };
    const int64_t per = p->tiles_h * p->tiles_w, nn = tile / per, r = tile % per;
    const int64_t ih0 = (r / p->tiles_w) * m - p->PT, iw0 = (r % p->tiles_w) * m - p->PL;
    const float *row[A];
    int colok[A];
    for (int i = 0; i < al; i++) {
        const int64_t ih = ih0 + i;
        row[i] = ih >= 0 && ih < p->H ? x + (nn * p->H + ih) * p->W * XP : NULL; /* start of input row ih */
        colok[i] = iw0 + i >= 0 && iw0 + i < p->W;
    }
    for (int64_t c = 0; c < p->Cin; c += 16) {
        const __mmask16 k = kiln_lane_mask(p->Cin - c);
        V t[A][A];
#pragma GCC unroll 6
        for (int i = 0; i < al; i++) {
            V d[A];
#pragma GCC unroll 6
            for (int j = 0; j < al; j++)
                d[j] = row[i] && colok[j] ? _mm512_maskz_loadu_ps(k, row[i] + (iw0 + j) * XP + c) : _mm512_setzero_ps();
            bt(al, d, t[i]);
        }
#pragma GCC unroll 6
        for (int j = 0; j < al; j++) {
            V col[A], o[A];
#pragma GCC unroll 6
            for (int i = 0; i < al; i++) col[i] = t[i][j];
            bt(al, col, o);
#pragma GCC unroll 6
            for (int i = 0; i < al; i++) _mm512_storeu_ps(v + (i * al + j) * pstride + c, o[i]);
        }
    }
}


/* Transform tile `tile` of M (rows mv[pt * pstride + co]) back for channels [co0, co1): + bias, + residual, act. */
INLINE void output_tile(const int m, const int al, const kiln_wino_job *j, const float *mv, int64_t pstride, int64_t tile,
                        int64_t co0, int64_t co1)
{
    enum { A = 6, MM = 4 };
    const kiln_wino_plan *p = &j->p;
    const int64_t per = p->tiles_h * p->tiles_w, nn = tile / per, r = tile % per;
    const int64_t oh0 = (r / p->tiles_w) * m, ow0 = (r % p->tiles_w) * m;
    const int rows = (int)(p->OH - oh0 < m ? p->OH - oh0 : m), cols = (int)(p->OW - ow0 < m ? p->OW - ow0 : m);
    const kiln_act *act = &j->a->node->attrs.act;
    for (int64_t c = co0; c < co1; c += 16) {
        const int64_t left = co1 - c;
        const __mmask16 k = kiln_lane_mask(left);
        V t[A][MM];
#pragma GCC unroll 6
        for (int i = 0; i < al; i++) {
            V s[A];
#pragma GCC unroll 6
            for (int q = 0; q < al; q++) s[q] = _mm512_loadu_ps(mv + (i * al + q) * pstride + c);
            at(m, al, s, t[i]);
        }
        const V b = _mm512_loadu_ps(j->bias + c);
#pragma GCC unroll 4
        for (int q = 0; q < m; q++) {
            if (q >= cols) break;
            V col[A], o[MM];
#pragma GCC unroll 6
            for (int i = 0; i < al; i++) col[i] = t[i][q];
            at(m, al, col, o);
#pragma GCC unroll 4
            for (int i = 0; i < m; i++) {
                if (i >= rows) break;
                const int64_t pix = (nn * p->OH + oh0 + i) * p->OW + ow0 + q;
                V y = _mm512_add_ps(o[i], b);
                if (j->res) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(k, j->res + pix * p->Cout + c));
                if (j->fast >= 1) y = _mm512_max_ps(y, _mm512_setzero_ps());
                if (j->fast == 2) y = _mm512_min_ps(y, vset(act->beta));
                float *dst = j->a->out + pix * j->YP + c;
                _mm512_mask_storeu_ps(dst, k, y);
                if (j->fast < 0)
                    for (int l = 0; l < 16 && l < left; l++) dst[l] = kiln_act_apply(act, dst[l]);
            }
        }
    }
}

/* ---- GEMM: c[r][0..31] = sum_k a[r * lda + k] * w[k * 32 + 0..31] for r < mr -------------------------------- */

/* Full 14-row tile: 28 accumulators in zmm0-27 (zeroed here), weights zmm28-29, broadcast zmm30-31; row r of the
 * result goes to (add: is added to) c + r * ldc (two bases, rows 0 and 7, and three stride multiples, like the a rows). Per k, 128 bytes
 * at pf are prefetched and pf advances pf_step floats: the tiles of a panel share the prefetch of the next panel. */
/* The 14x32 tile's asm: zero the accumulators, the K loop, then (WINO_K14_ADDS, when adding to c) the stores. Two
 * asm statements rather than a flag operand: the loop already takes 14 general registers (an ASan build has no more). */
#define WINO_K14_LOOP \
    ".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27\n" \
    "vpxord %%zmm\\r, %%zmm\\r, %%zmm\\r\n" \
    ".endr\n" \
    "test %[k], %[k]\n" \
    "jz 2f\n" \
    KILN_AVX512_14x32_K_LOOP \
    "2:\n"
#define WINO_K14_ADDS \
    "vaddps (%[c0]), %%zmm0, %%zmm0\n" \
    "vaddps 64(%[c0]), %%zmm1, %%zmm1\n" \
    "vaddps (%[c0],%[l1],1), %%zmm2, %%zmm2\n" \
    "vaddps 64(%[c0],%[l1],1), %%zmm3, %%zmm3\n" \
    "vaddps (%[c0],%[l1],2), %%zmm4, %%zmm4\n" \
    "vaddps 64(%[c0],%[l1],2), %%zmm5, %%zmm5\n" \
    "vaddps (%[c0],%[l3],1), %%zmm6, %%zmm6\n" \
    "vaddps 64(%[c0],%[l3],1), %%zmm7, %%zmm7\n" \
    "vaddps (%[c0],%[l1],4), %%zmm8, %%zmm8\n" \
    "vaddps 64(%[c0],%[l1],4), %%zmm9, %%zmm9\n" \
    "vaddps (%[c0],%[l5],1), %%zmm10, %%zmm10\n" \
    "vaddps 64(%[c0],%[l5],1), %%zmm11, %%zmm11\n" \
    "vaddps (%[c0],%[l3],2), %%zmm12, %%zmm12\n" \
    "vaddps 64(%[c0],%[l3],2), %%zmm13, %%zmm13\n" \
    "vaddps (%[c7]), %%zmm14, %%zmm14\n" \
    "vaddps 64(%[c7]), %%zmm15, %%zmm15\n" \
    "vaddps (%[c7],%[l1],1), %%zmm16, %%zmm16\n" \
    "vaddps 64(%[c7],%[l1],1), %%zmm17, %%zmm17\n" \
    "vaddps (%[c7],%[l1],2), %%zmm18, %%zmm18\n" \
    "vaddps 64(%[c7],%[l1],2), %%zmm19, %%zmm19\n" \
    "vaddps (%[c7],%[l3],1), %%zmm20, %%zmm20\n" \
    "vaddps 64(%[c7],%[l3],1), %%zmm21, %%zmm21\n" \
    "vaddps (%[c7],%[l1],4), %%zmm22, %%zmm22\n" \
    "vaddps 64(%[c7],%[l1],4), %%zmm23, %%zmm23\n" \
    "vaddps (%[c7],%[l5],1), %%zmm24, %%zmm24\n" \
    "vaddps 64(%[c7],%[l5],1), %%zmm25, %%zmm25\n" \
    "vaddps (%[c7],%[l3],2), %%zmm26, %%zmm26\n" \
    "vaddps 64(%[c7],%[l3],2), %%zmm27, %%zmm27\n"
#define WINO_K14_STORES \
    "vmovups %%zmm0, (%[c0])\n" \
    "vmovups %%zmm1, 64(%[c0])\n" \
    "vmovups %%zmm2, (%[c0],%[l1],1)\n" \
    "vmovups %%zmm3, 64(%[c0],%[l1],1)\n" \
    "vmovups %%zmm4, (%[c0],%[l1],2)\n" \
    "vmovups %%zmm5, 64(%[c0],%[l1],2)\n" \
    "vmovups %%zmm6, (%[c0],%[l3],1)\n" \
    "vmovups %%zmm7, 64(%[c0],%[l3],1)\n" \
    "vmovups %%zmm8, (%[c0],%[l1],4)\n" \
    "vmovups %%zmm9, 64(%[c0],%[l1],4)\n" \
    "vmovups %%zmm10, (%[c0],%[l5],1)\n" \
    "vmovups %%zmm11, 64(%[c0],%[l5],1)\n" \
    "vmovups %%zmm12, (%[c0],%[l3],2)\n" \
    "vmovups %%zmm13, 64(%[c0],%[l3],2)\n" \
    "vmovups %%zmm14, (%[c7])\n" \
    "vmovups %%zmm15, 64(%[c7])\n" \
    "vmovups %%zmm16, (%[c7],%[l1],1)\n" \
    "vmovups %%zmm17, 64(%[c7],%[l1],1)\n" \
    "vmovups %%zmm18, (%[c7],%[l1],2)\n" \
    "vmovups %%zmm19, 64(%[c7],%[l1],2)\n" \
    "vmovups %%zmm20, (%[c7],%[l3],1)\n" \
    "vmovups %%zmm21, 64(%[c7],%[l3],1)\n" \
    "vmovups %%zmm22, (%[c7],%[l1],4)\n" \
    "vmovups %%zmm23, 64(%[c7],%[l1],4)\n" \
    "vmovups %%zmm24, (%[c7],%[l5],1)\n" \
    "vmovups %%zmm25, 64(%[c7],%[l5],1)\n" \
    "vmovups %%zmm26, (%[c7],%[l3],2)\n" \
    "vmovups %%zmm27, 64(%[c7],%[l3],2)\n"
#define WINO_K14_OPERANDS \
    : [a0] "+r"(pa0), [a7] "+r"(pa7), [w] "+r"(pw), [k] "+r"(kc), [pf] "+r"(ppf) \
    : [c0] "r"(c0), [c7] "r"(c7), [l1] "r"(l1), [l3] "r"(l3), [l5] "r"(l5), [s1] "r"(s1), [s3] "r"(s3), \
    [s5] "r"(s5), [pfs] "r"(pf_step * 4) \
    : "memory", "cc", "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", \
    "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", \
    "zmm23", "zmm24", "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "zmm30", "zmm31"

static inline void k14x32(float *c, int64_t ldc, const float *a0, int64_t lda, const float *w, int64_t kc,
                          const float *pf, int64_t pf_step, int64_t add)
{
    const char *ppf = (const char *)pf;
    const int64_t s1 = lda * 4, s3 = 3 * s1, s5 = 5 * s1, l1 = ldc * 4, l3 = 3 * l1, l5 = 5 * l1;
    const char *pa0 = (const char *)a0, *pa7 = (const char *)a0 + 7 * s1, *pw = (const char *)w;
    char *c0 = (char *)c, *c7 = (char *)c + 7 * l1;
    if (add)
        __asm__ volatile(WINO_K14_LOOP WINO_K14_ADDS WINO_K14_STORES WINO_K14_OPERANDS);
    else
        __asm__ volatile(WINO_K14_LOOP WINO_K14_STORES WINO_K14_OPERANDS);
}

/* Fewer than 14 rows (block tails): the same FMA chains in C. */
INLINE void kn_rows(const int mr, const float *a, int64_t lda, const float *w, int64_t K, float *c, int64_t ldc,
                    int add)
{
    V c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int r = 0; r < mr; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        const V b0 = _mm512_loadu_ps(w + k * NR), b1 = _mm512_loadu_ps(w + k * NR + 16);
#pragma GCC unroll 14
        for (int r = 0; r < mr; r++) {
            const V x = _mm512_set1_ps(a[r * lda + k]);
            c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
        }
    }
#pragma GCC unroll 14
    for (int r = 0; r < mr; r++) {
        if (add) {
            c0[r] = _mm512_add_ps(c0[r], _mm512_loadu_ps(c + r * ldc));
            c1[r] = _mm512_add_ps(c1[r], _mm512_loadu_ps(c + r * ldc + 16));
        }
        _mm512_storeu_ps(c + r * ldc, c0[r]);
        _mm512_storeu_ps(c + r * ldc + 16, c1[r]);
    }
}

/* F(4x4): the products of one transformed point sum over Cin in blocks of WINO_KB channels, each block's FMA chain
 * from zero, added to the running sum at its store. Its products are up to ~100x the output they cancel down to, and
 * one chain over all of Cin rounds each addition against a running sum that large: blocks of 32 cut its worst error
 * per layer 2.3x (with the new points, 5x in all) for ~3% of its time (docs/PERFORMANCE.md "Winograd F(4x4)
 * accuracy"). F(2x2) keeps one chain (KB = Cin): its error is the gemm's already, and blocks cost it 5%. */
#define WINO_KB 32

static void gemm_rows(int mr, const float *a, int64_t lda, const float *w, int64_t K, int64_t KB, float *c,
                      int64_t ldc, const float *pf, int64_t pf_step)
{
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
        const int64_t kb = K - k0 < KB ? K - k0 : KB;
        const int add = k0 > 0;
        if (mr == MR) {
            k14x32(c, ldc, a + k0, lda, w + k0 * NR, kb, pf + k0 * pf_step, pf_step, add);
            continue;
        }
        switch (mr) {
#define KN_CASE(R) \
    case R: kn_rows(R, a + k0, lda, w + k0 * NR, kb, c, ldc, add); break;
            KN_CASE(1) KN_CASE(2) KN_CASE(3) KN_CASE(4) KN_CASE(5) KN_CASE(6) KN_CASE(7)
            KN_CASE(8) KN_CASE(9) KN_CASE(10) KN_CASE(11) KN_CASE(12) KN_CASE(13)
#undef KN_CASE
        default: break;
        }
    }
}

/* ---- driver (../winograd_driver.inc): tile blocks over threads, transforms and GEMMs per block ------------- */

#define WINO_SUF avx512
#define WINO_FAST_KIND(act) kiln_relu_kind(act)
#define WINO_INL INLINE
#include "../winograd_driver.inc"
#endif
