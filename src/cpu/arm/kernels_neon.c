/* NEON (aarch64 Advanced SIMD) build of the optimized kernels (simd_kernels.inc). Every aarch64 CPU has NEON, so no
 * extra compiler flags are needed; on other architectures this file is empty. */
#if defined(__aarch64__)
#include <arm_neon.h>

#define SUF neon
#define V float32x4_t
#define VLEN 4
static inline float32x4_t n_load_n(const float *p, int n) { float t[4] = {0, 0, 0, 0}; for (int i = 0; i < n; i++) t[i] = p[i]; return vld1q_f32(t); }
static inline void n_store_n(float *p, float32x4_t v, int n) { float t[4]; vst1q_f32(t, v); for (int i = 0; i < n; i++) p[i] = t[i]; }
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32((p), (v))
#define V_LOAD_N(p, n) n_load_n((p), (n))
#define V_STORE_N(p, v, n) n_store_n((p), (v), (n))
#define V_SET1(x) vdupq_n_f32(x)
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_ADD(a, b) vaddq_f32((a), (b))
#define V_SUB(a, b) vsubq_f32((a), (b))
#define V_MUL(a, b) vmulq_f32((a), (b))
#define V_DIV(a, b) vdivq_f32((a), (b))
#define V_MAX(a, b) vmaxq_f32((a), (b))
#define V_MIN(a, b) vminq_f32((a), (b))

#include "../simd_kernels.inc"

#define MR 8
#define NRV 2
#define NR_LIT 8
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 4
#define NRV 4
#define NR_LIT 16
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 1
#define NRV 4
#define NR_LIT 16
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

/* Winograd F(4x4, 3x3), F(2x2, 3x3), F(2x2, 5x5) */
#define WINO_SUF SUF
#include "../winograd_simd.inc"
#undef WINO_SUF
#endif
