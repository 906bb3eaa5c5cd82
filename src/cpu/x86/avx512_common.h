/* Small helpers shared by the AVX-512 kernels written outside simd_kernels.inc (winograd_avx512.c, conv_amx.c).
 * Include after <immintrin.h> under an AVX-512 target. */
#ifndef KILN_CPU_X86_AVX512_COMMON_H
#define KILN_CPU_X86_AVX512_COMMON_H

#include <math.h>
#include <stdint.h>

#include "../../core/ops.h"

/* The first n of 16 lanes (none for n <= 0, all for n >= 16). */
static inline __mmask16 kiln_lane_mask(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* How an epilogue applies act in registers: 0 none, 1 relu, 2 relu clipped at beta; -1 anything else (act.h per lane
 * after the store). */
static inline int kiln_relu_kind(const kiln_act *act)
{
    if (act->kind == KILN_ACT_NONE) return 0;
    if (act->kind == KILN_ACT_RELU && act->alpha == 0.0f && act->gamma == 0.0f) return isinf(act->beta) ? 1 : 2;
    return -1;
}

/* How an epilogue applies act in registers: as kiln_relu_kind, and 3 sigmoid, 4 swish (kiln_sigmoid_swish_avx512). */
static inline int kiln_act_kind_avx512(const kiln_act *act)
{
    if (act->kind == KILN_ACT_SIGMOID) return 3;
    if (act->kind == KILN_ACT_SWISH) return 4;
    return kiln_relu_kind(act);
}

/* exp(-v), the vector exp of every AVX-512 sigmoid / swish (simd_kernels.inc's v_exp_neg takes it from here, so all
 * AVX-512 kernels give the same bits). Cephes' range reduction -v = n ln2 + r, |r| <= ln2/2 (ln2 in two parts), the
 * negation folded into the constants; then a degree-6 polynomial fitted for relative error (c0 = 1, the others
 * float32 from a reweighted least-squares fit on Chebyshev nodes of [-ln2/2, ln2/2]) and 2^n by vscalefps on the
 * polynomial itself. Relative error below 1e-7 over v in [-88.3, 87.3], where inputs are clamped (test_cpu_kernels:
 * 1e-6 against expf for sigmoid / swish). 12 operations instead of Cephes' degree-7 form's 16 (negation, two more
 * polynomial steps, 2^n then a multiply): sigmoid and swish are bound by these operations on the two vector ports. */
static inline __m512 kiln_exp_neg_avx512(__m512 v)
{
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-88.3f)), _mm512_set1_ps(87.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(-1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmsub_ps(n, _mm512_set1_ps(0.693359375f), v); /* -v - n * ln2_hi */
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);      /* - n * ln2_lo (ln2_lo < 0) */
    __m512 p = _mm512_set1_ps(1.3843652559e-3f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3741554990e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1668001562e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666431725e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.9999994040e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* kind 3: sigmoid 1 / (1 + exp(-v)); kind 4: swish v / (1 + exp(-v)) (act.h) */
static inline __m512 kiln_sigmoid_swish_avx512(__m512 v, int kind)
{
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), kiln_exp_neg_avx512(v));
    return _mm512_div_ps(kind == 3 ? _mm512_set1_ps(1.0f) : v, d);
}

#endif
