/* AVX-512 (F) build of the optimized kernels (simd_kernels.inc); compiled with -mavx512f -mavx512dq -mavx512bw
 * -mavx512vl -mfma (CMakeLists.txt) and only ever called when kiln_cpu_isa() says AVX-512 is there. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "avx512_tile14.h"

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
#define V_ROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2I(n) _mm512_scalef_ps(_mm512_set1_ps(1.0f), (n))

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

/* The 14x32 inner loop for a "uniform" tile (row r of the tile reads a0 + r * step, e.g. 1x1 stride-1 convs and
 * every interior tap of a tile inside one output row), in assembly because GCC spills row pointers and rotates
 * accumulators when it has to keep 14 row pointers in general registers: here two bases (rows 0 and 7) and three
 * stride multiples address all 14 rows, so the loop is 2 weight loads, 14 broadcasts and 28 FMAs per k with nothing
 * spilled. acc: 28 vectors (row-major 14 x 2), 64-byte aligned, updated in place; each accumulator is one FMA chain
 * in k order, so results equal the C kernel's bit for bit. pf: 128 bytes per k prefetched into L2 from pf, which advances
 * pf_step floats per k (each tile of a group fetches its share of the next K block's weights, so their memory
 * latency overlaps this block's FMAs). */
static inline void avx512_uniform_14x32(float *acc, const float *a0, int64_t step_floats, const float *w, int64_t kc,
                                        const float *pf, int64_t pf_step)
{
    const int64_t s1 = step_floats * 4, s3 = 3 * s1, s5 = 5 * s1;
    const char *pa0 = (const char *)a0, *pa7 = (const char *)a0 + 7 * s1;
    const char *pw = (const char *)w, *ppf = (const char *)pf;
    __asm__ volatile(
        "vmovaps 0(%[acc]), %%zmm0\n"
        "vmovaps 64(%[acc]), %%zmm1\n"
        "vmovaps 128(%[acc]), %%zmm2\n"
        "vmovaps 192(%[acc]), %%zmm3\n"
        "vmovaps 256(%[acc]), %%zmm4\n"
        "vmovaps 320(%[acc]), %%zmm5\n"
        "vmovaps 384(%[acc]), %%zmm6\n"
        "vmovaps 448(%[acc]), %%zmm7\n"
        "vmovaps 512(%[acc]), %%zmm8\n"
        "vmovaps 576(%[acc]), %%zmm9\n"
        "vmovaps 640(%[acc]), %%zmm10\n"
        "vmovaps 704(%[acc]), %%zmm11\n"
        "vmovaps 768(%[acc]), %%zmm12\n"
        "vmovaps 832(%[acc]), %%zmm13\n"
        "vmovaps 896(%[acc]), %%zmm14\n"
        "vmovaps 960(%[acc]), %%zmm15\n"
        "vmovaps 1024(%[acc]), %%zmm16\n"
        "vmovaps 1088(%[acc]), %%zmm17\n"
        "vmovaps 1152(%[acc]), %%zmm18\n"
        "vmovaps 1216(%[acc]), %%zmm19\n"
        "vmovaps 1280(%[acc]), %%zmm20\n"
        "vmovaps 1344(%[acc]), %%zmm21\n"
        "vmovaps 1408(%[acc]), %%zmm22\n"
        "vmovaps 1472(%[acc]), %%zmm23\n"
        "vmovaps 1536(%[acc]), %%zmm24\n"
        "vmovaps 1600(%[acc]), %%zmm25\n"
        "vmovaps 1664(%[acc]), %%zmm26\n"
        "vmovaps 1728(%[acc]), %%zmm27\n"
        "test %[k], %[k]\n"
        "jz 2f\n"
        "1:\n"
        "vmovups (%[w]), %%zmm28\n"
        "vmovups 64(%[w]), %%zmm29\n"
        "prefetcht1 (%[pf])\n"
        "prefetcht1 64(%[pf])\n"
        KILN_AVX512_14x32_FMA_STEP
        "add $4, %[a0]\n"
        "add $4, %[a7]\n"
        "add $128, %[w]\n"
        "add %[pfs], %[pf]\n"
        "dec %[k]\n"
        "jnz 1b\n"
        "2:\n"
        "vmovaps %%zmm0, 0(%[acc])\n"
        "vmovaps %%zmm1, 64(%[acc])\n"
        "vmovaps %%zmm2, 128(%[acc])\n"
        "vmovaps %%zmm3, 192(%[acc])\n"
        "vmovaps %%zmm4, 256(%[acc])\n"
        "vmovaps %%zmm5, 320(%[acc])\n"
        "vmovaps %%zmm6, 384(%[acc])\n"
        "vmovaps %%zmm7, 448(%[acc])\n"
        "vmovaps %%zmm8, 512(%[acc])\n"
        "vmovaps %%zmm9, 576(%[acc])\n"
        "vmovaps %%zmm10, 640(%[acc])\n"
        "vmovaps %%zmm11, 704(%[acc])\n"
        "vmovaps %%zmm12, 768(%[acc])\n"
        "vmovaps %%zmm13, 832(%[acc])\n"
        "vmovaps %%zmm14, 896(%[acc])\n"
        "vmovaps %%zmm15, 960(%[acc])\n"
        "vmovaps %%zmm16, 1024(%[acc])\n"
        "vmovaps %%zmm17, 1088(%[acc])\n"
        "vmovaps %%zmm18, 1152(%[acc])\n"
        "vmovaps %%zmm19, 1216(%[acc])\n"
        "vmovaps %%zmm20, 1280(%[acc])\n"
        "vmovaps %%zmm21, 1344(%[acc])\n"
        "vmovaps %%zmm22, 1408(%[acc])\n"
        "vmovaps %%zmm23, 1472(%[acc])\n"
        "vmovaps %%zmm24, 1536(%[acc])\n"
        "vmovaps %%zmm25, 1600(%[acc])\n"
        "vmovaps %%zmm26, 1664(%[acc])\n"
        "vmovaps %%zmm27, 1728(%[acc])\n"
        : [a0] "+r"(pa0), [a7] "+r"(pa7), [w] "+r"(pw), [pf] "+r"(ppf), [k] "+r"(kc)
        : [acc] "r"(acc), [s1] "r"(s1), [s3] "r"(s3), [s5] "r"(s5), [pfs] "r"(pf_step * 4)
        : "memory", "cc", "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", "zmm23", "zmm24", "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "zmm30", "zmm31");
}
#define UNIFORM_LOOP avx512_uniform_14x32

/* 14 rows: 28 accumulators + 2 weight vectors + 1 broadcast of the 32 registers; 14 divides 7 * 2^k pixels. */
#define MR 14
#define NRV 2
#define NR_LIT 32
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT
#undef UNIFORM_LOOP

#define MR 1
#define NRV 4
#define NR_LIT 64
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

/* stems: 12 output pixels x 2 vectors per register tile */
#define DIRECT_P 12
#include "../conv_direct.inc"
#undef DIRECT_P

/* depthwise row sweep: 8 output pixels per register tile */
#define DWR_P 8
#include "../dw_rows.inc"
#undef DWR_P
#endif
