/* AVX-512 (F) build of the optimized kernels (simd_kernels.inc); compiled with -mavx512f -mavx512dq -mavx512bw
 * -mavx512vl -mfma (CMakeLists.txt) and only ever called when kiln_cpu_isa() says AVX-512 is there. */
#if defined(__x86_64__)
#include <immintrin.h>

#define SUF avx512
#define V __m512
#define VLEN 16
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_LOAD_N(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1u), (p))
#define V_STORE_N(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1u), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_DIV(a, b) _mm512_div_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_MIN(a, b) _mm512_min_ps((a), (b))

#include "../simd_kernels.inc"

#define MR 8
#define NRV 2
#define NR_LIT 32
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 12
#define NRV 2
#define NR_LIT 32
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 1
#define NRV 4
#define NR_LIT 64
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT
#endif
