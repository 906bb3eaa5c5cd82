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

#endif
