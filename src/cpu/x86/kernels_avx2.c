/* AVX2 + FMA build of the optimized kernels (simd_kernels.inc); compiled with -mavx2 -mfma (CMakeLists.txt) and only
 * ever called when kiln_cpu_isa() says AVX2 is there. */
#if defined(__x86_64__)
#include <immintrin.h>

#define SUF avx2
#define V __m256
#define VLEN 8
static inline __m256i avx2_mask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_LOAD_N(p, n) _mm256_maskload_ps((p), avx2_mask(n))
#define V_STORE_N(p, v, n) _mm256_maskstore_ps((p), avx2_mask(n), (v))
#define V_SET1(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_DIV(a, b) _mm256_div_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_MIN(a, b) _mm256_min_ps((a), (b))
#define V_ROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2I(n) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))

#include "../simd_kernels.inc"

#define MR 6
#define NRV 2
#define NR_LIT 16
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 4
#define NRV 3
#define NR_LIT 24
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 1
#define NRV 4
#define NR_LIT 32
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

/* stems: 4 output pixels x 2 vectors per register tile */
#define DIRECT_P 4
#include "../conv_direct.inc"
#undef DIRECT_P

/* depthwise row sweep: 4 output pixels per register tile */
#define DWR_P 4
#include "../dw_rows.inc"
#undef DWR_P

/* Winograd F(4x4, 3x3), F(2x2, 3x3), F(2x2, 5x5) (AVX-512 has its own, x86/winograd_avx512.c) */
#define WINO_SUF SUF
#include "../winograd_simd.inc"
#undef WINO_SUF
#endif
