/* Scalar activation math shared by the reference kernels and every fused epilogue,
 * so a fused and an unfused graph compute the very same function. */
#ifndef KILN_CORE_ACT_H
#define KILN_CORE_ACT_H

#include <math.h>
#include "ops.h"

/* The CUDA backend (src/cuda/) compiles these same functions for the GPU: nvcc defines KILN_HD as __host__ __device__
 * before including this header; in C it is empty. */
#ifndef KILN_HD
#define KILN_HD
#endif

static inline KILN_HD float kiln_act_apply(const kiln_act *a, float x)
{
    switch (a->kind) {
    case KILN_ACT_NONE: return x;
    case KILN_ACT_RELU: return x > a->gamma ? fminf(x, a->beta) : a->alpha * (x - a->gamma);
    case KILN_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case KILN_ACT_HARD_SIGMOID: return fminf(fmaxf(a->alpha * x + a->beta, 0.0f), 1.0f);
    case KILN_ACT_SWISH: return x / (1.0f + expf(-x));
    case KILN_ACT_HARD_SWISH: return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
    case KILN_ACT_TANH: return tanhf(x);
    case KILN_ACT_ELU: return x > 0.0f ? x : a->alpha * expm1f(x);
    case KILN_ACT_GELU:
        if (a->alpha != 0.0f)
            return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case KILN_ACT_SELU:
        return 1.0507009873554805f * (x > 0.0f ? x : 1.6732632423543772f * expm1f(x));
    case KILN_ACT_SOFTPLUS: return x > 20.0f ? x : log1pf(expf(x));
    case KILN_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case KILN_ACT_EXP: return expf(x);
    case KILN_ACT_SQRT: return sqrtf(x);
    case KILN_ACT_NEG: return -x;
    case KILN_ACT_LOG: return logf(x);
    case KILN_ACT_ABS: return fabsf(x);
    case KILN_ACT_RECIPROCAL: return 1.0f / x;
    case KILN_ACT_FLOOR: return floorf(x);
    case KILN_ACT_CEIL: return ceilf(x);
    case KILN_ACT_POW: return powf(x, a->alpha);
    default: return x;
    }
}

/* Activation records for the common cases. */
static inline KILN_HD kiln_act kiln_act_make(int kind, float alpha, float beta, float gamma)
{
    kiln_act a = { kind, alpha, beta, gamma };
    return a;
}
static inline KILN_HD kiln_act kiln_act_relu(void) { return kiln_act_make(KILN_ACT_RELU, 0.0f, INFINITY, 0.0f); }

#endif
