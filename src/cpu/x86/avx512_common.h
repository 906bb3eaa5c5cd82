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

/* expf: the vector exp of simd_kernels.inc (v_exp, which the AVX-512 kernels take from here: the same operations,
 * so every AVX-512 kernel's sigmoid / swish gives the same bits). Cephes' range reduction x = n ln2 + r,
 * |r| <= ln2/2, and its degree-6 polynomial; relative error below 2e-7 over [-87.3, 88.3], where inputs are clamped. */
static inline __m512 kiln_exp_avx512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_mul_ps(p, _mm512_scalef_ps(_mm512_set1_ps(1.0f), n));
}

/* kind 3: sigmoid 1 / (1 + exp(-v)); kind 4: swish v / (1 + exp(-v)) (act.h) */
static inline __m512 kiln_sigmoid_swish_avx512(__m512 v, int kind)
{
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), kiln_exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), v)));
    return _mm512_div_ps(kind == 3 ? _mm512_set1_ps(1.0f) : v, d);
}

#endif
