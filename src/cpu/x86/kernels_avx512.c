/* AVX-512 (F) build of the optimized kernels (simd_kernels.inc); compiled with -mavx512f -mavx512dq -mavx512bw
 * -mavx512vl -mfma (CMakeLists.txt) and only ever called when kiln_cpu_isa() says AVX-512 is there. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>

#include "avx512_common.h"
#include "avx512_tile14.h"
#include "avx512_tile16x16.h"

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
#define V_EXP_NEG(x) kiln_exp_neg_avx512(x)

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

#define MR 7
#define NRV 3
#define NR_LIT 48
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 7
#define NRV 4
#define NR_LIT 64
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

/* The 14x32 inner loop for a "uniform" tile (row r < 7 of the tile reads a0 + r * step, row r >= 7 a7 + (r - 7) *
 * step: 1x1 stride-1 convs, and every tap of a tile made of one or two 7-pixel runs of output rows once padding is
 * out of the way: see gemm_variant.inc), in assembly because GCC spills row pointers and rotates
 * accumulators when it has to keep 14 row pointers in general registers: here two bases (rows 0 and 7) and three
 * stride multiples address all 14 rows, so the loop is 2 weight loads, 14 broadcasts and 28 FMAs per k with nothing
 * spilled. acc: 28 vectors (row-major 14 x 2), 64-byte aligned, updated in place; each accumulator is one FMA chain
 * in k order, so results equal the C kernel's bit for bit. pf: 128 bytes per k prefetched into L2 from pf, which advances
 * pf_step floats per k (each tile of a group fetches its share of the next K block's weights, so their memory
 * latency overlaps this block's FMAs). */
static inline void avx512_uniform_14x32(float *acc, const float *a0, const float *a7, int64_t step_floats,
                                        const float *w, int64_t kc, const float *pf, int64_t pf_step)
{
    const int64_t s1 = step_floats * 4, s3 = 3 * s1, s5 = 5 * s1;
    const char *pa0 = (const char *)a0, *pa7 = (const char *)a7;
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
        KILN_AVX512_14x32_K_LOOP
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

/* A whole 14x32 uniform tile in one asm block: accumulators zeroed in registers, the K loop of every tap of the block
 * (each tap's two row bases from a table; taps of few channels, e.g. a 7x7 stem's 3, no longer pay a round trip of
 * the accumulators per tap), then the
 * store step of gemm_store_ (+ the partial sums in c unless first; when last: + bias, + residual, relu / relu6) and
 * the stores, all from the registers. The general path round-trips the 28 accumulators through a stack buffer before
 * and after the loop and reloads them in C: on small-K layers (MobileNetV2's 1x1 convs, K = 16..192) that was a
 * quarter of the tile's time. Same operations in the same order as gemm_store_: results are identical. */
typedef struct {
    float *c[14];        /* output rows (c + r * ldc) */
    const float *res[14]; /* residual rows, or unused */
    const float *bias;   /* 32 floats */
    int32_t first, last; /* as gemm_store_ */
    int32_t act;         /* 0 none, 1 relu, 2 relu6-like (min hi) when last; anything else is applied after */
    int32_t has_res;
    float hi;
    uint32_t mask;       /* lanes of the second output vector that exist (nvalid - 16 of them: 17..32 channels) */
    const float *const *tap; /* per tap: row 0's and row 7's first operand (a0, a7) */
    int64_t ntaps;       /* >= 1 */
    int64_t kc;          /* k steps of each tap */
} avx512_tile14_epi;
_Static_assert(offsetof(avx512_tile14_epi, bias) == 224 && offsetof(avx512_tile14_epi, first) == 232 &&
                   offsetof(avx512_tile14_epi, last) == 236 && offsetof(avx512_tile14_epi, act) == 240 &&
                   offsetof(avx512_tile14_epi, has_res) == 244 && offsetof(avx512_tile14_epi, hi) == 248 &&
                   offsetof(avx512_tile14_epi, mask) == 252 && offsetof(avx512_tile14_epi, kc) == 272,
               "avx512_tile14_epi layout is addressed by offset in asm");

#define T14_ROWS(M) M(0, 0, 1) M(1, 2, 3) M(2, 4, 5) M(3, 6, 7) M(4, 8, 9) M(5, 10, 11) M(6, 12, 13) M(7, 14, 15) \
    M(8, 16, 17) M(9, 18, 19) M(10, 20, 21) M(11, 22, 23) M(12, 24, 25) M(13, 26, 27)
#define T14_ZERO(r, a, b) "vpxord %%zmm" #a ", %%zmm" #a ", %%zmm" #a "\n" "vpxord %%zmm" #b ", %%zmm" #b ", %%zmm" #b "\n"
#define T14_ADD_C(r, a, b) "mov " #r "*8(%[ep]), %%rax\n" "vaddps (%%rax), %%zmm" #a ", %%zmm" #a "\n" \
    "vaddps 64(%%rax), %%zmm" #b ", %%zmm" #b "%{%%k1%}\n"
#define T14_ADD_RES(r, a, b) "mov 112+" #r "*8(%[ep]), %%rax\n" "vaddps (%%rax), %%zmm" #a ", %%zmm" #a "\n" \
    "vaddps 64(%%rax), %%zmm" #b ", %%zmm" #b "%{%%k1%}\n"
#define T14_ADD_BIAS(r, a, b) "vaddps %%zmm28, %%zmm" #a ", %%zmm" #a "\n" "vaddps %%zmm29, %%zmm" #b ", %%zmm" #b "\n"
#define T14_MAX0(r, a, b) "vmaxps %%zmm30, %%zmm" #a ", %%zmm" #a "\n" "vmaxps %%zmm30, %%zmm" #b ", %%zmm" #b "\n"
#define T14_MINHI(r, a, b) "vminps %%zmm31, %%zmm" #a ", %%zmm" #a "\n" "vminps %%zmm31, %%zmm" #b ", %%zmm" #b "\n"
#define T14_STORE(r, a, b) "mov " #r "*8(%[ep]), %%rax\n" "vmovups %%zmm" #a ", (%%rax)\n" \
    "vmovups %%zmm" #b ", 64(%%rax)%{%%k1%}\n"

static inline void avx512_tile_14x32(int64_t step_floats, const float *w, const float *pf, int64_t pf_step,
                                     const avx512_tile14_epi *ep)
{
    const int64_t s1 = step_floats * 4, s3 = 3 * s1, s5 = 5 * s1;
    const char *pa0 = NULL, *pa7 = NULL, *const *tab = (const char *const *)ep->tap;
    const char *pw = (const char *)w, *ppf = (const char *)pf;
    int64_t kc = 0, nt = ep->ntaps;
    __asm__ volatile(
        T14_ROWS(T14_ZERO)
        "kmovw 252(%[ep]), %%k1\n"
        "5:\n"
        "mov (%[tab]), %[a0]\n"
        "mov 8(%[tab]), %[a7]\n"
        "add $16, %[tab]\n"
        "mov 272(%[ep]), %[k]\n"
        "test %[k], %[k]\n"
        "jz 7f\n"
        KILN_AVX512_14x32_K_LOOP
        "7:\n"
        "dec %[nt]\n"
        "jnz 5b\n"
        "cmpl $0, 232(%[ep])\n"
        "jne 3f\n"
        T14_ROWS(T14_ADD_C)
        "3:\n"
        "cmpl $0, 236(%[ep])\n"
        "je 6f\n"
        "mov 224(%[ep]), %%rax\n"
        "vmovups (%%rax), %%zmm28\n"
        "vmovups 64(%%rax), %%zmm29\n"
        T14_ROWS(T14_ADD_BIAS)
        "cmpl $0, 244(%[ep])\n"
        "je 4f\n"
        T14_ROWS(T14_ADD_RES)
        "4:\n"
        "cmpl $1, 240(%[ep])\n"
        "jl 6f\n"
        "cmpl $2, 240(%[ep])\n"
        "jg 6f\n"
        "vpxord %%zmm30, %%zmm30, %%zmm30\n"
        T14_ROWS(T14_MAX0)
        "cmpl $2, 240(%[ep])\n"
        "jne 6f\n"
        "vbroadcastss 248(%[ep]), %%zmm31\n"
        T14_ROWS(T14_MINHI)
        "6:\n"
        T14_ROWS(T14_STORE)
        : [a0] "+r"(pa0), [a7] "+r"(pa7), [w] "+r"(pw), [pf] "+r"(ppf), [k] "+r"(kc), [tab] "+r"(tab), [nt] "+r"(nt)
        : [ep] "r"(ep), [s1] "r"(s1), [s3] "r"(s3), [s5] "r"(s5), [pfs] "r"(pf_step * 4)
        : "rax", "k1", "memory", "cc", "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", "zmm23", "zmm24", "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "zmm30", "zmm31");
}

/* gemm_variant.inc's hook: a uniform tile of ntaps taps (tap[2t], tap[2t + 1]: rows 0 and 7 of tap t, all of the
 * same step), kc k steps each, 14 rows, 17 to 32 channels (stores of the second vector masked); row r's output at
 * crow[r], its residual at rrow[r] (rrow NULL: none). */
static inline void avx512_uniform_tile_14x32(const float *const *tap, int ntaps, int64_t step, const float *w,
                                             int64_t kc, const float *pf, int64_t pfs, float *const *crow,
                                             int first, int last, const float *bias, const float *const *rrow,
                                             int fast, float hi, int nvalid)
{
    avx512_tile14_epi ep;
    ep.tap = tap, ep.ntaps = ntaps, ep.kc = kc;
    ep.mask = nvalid >= 32 ? 0xffffu : (1u << (nvalid - 16)) - 1u; /* nvalid in 17..32 */
    for (int r = 0; r < 14; r++) ep.c[r] = crow[r], ep.res[r] = rrow ? rrow[r] : NULL;
    ep.bias = bias, ep.first = first, ep.last = last, ep.act = fast, ep.has_res = rrow != NULL, ep.hi = hi;
    avx512_tile_14x32(step, w, pf, pfs, &ep);
}
#define UNIFORM_TILE avx512_uniform_tile_14x32

/* 14 rows: 28 accumulators + 2 weight vectors + 1 broadcast of the 32 registers; 14 divides 7 * 2^k pixels. */
#define MR 14
#define NRV 2
#define NR_LIT 32
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT
#undef UNIFORM_LOOP
#undef UNIFORM_TILE

/* one vector wide: layers with 16 or fewer output channels (MobileNetV2 / EfficientNet's first projections), where
 * the 32-wide tiles compute half zeros, or 16 past a multiple of 32 (EfficientNet's 40 / 80 / 112: tactics.c
 * conv_narrow_ok) */
#define MR 16
#define NRV 1
#define NR_LIT 16
#define UNIFORM_LOOP avx512_uniform_16x16
#define UNIFORM_TILE avx512_uniform_tile_16x16
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT
#undef UNIFORM_LOOP
#undef UNIFORM_TILE

#define MR 1
#define NRV 4
#define NR_LIT 64
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

/* stems: 7 output pixels x 2 vectors per register tile (12 spilled accumulators: 48% of the FMA peak on ResNet50's
 * 7x7 stem; 6 to 9 all reach ~71%, bench/cpu_conv_layers; 7 divides the 112 / 56 / 28 / 14 / 7 widths) */
#define DIRECT_P 7
/* and interior runs of 14 pixels on the 14x32 asm tile (conv_direct.inc DIRECT_WIDE_TILE) */
#define DIRECT_WIDE_TILE avx512_uniform_tile_14x32
#include "../conv_direct.inc"
#undef DIRECT_P
#undef DIRECT_WIDE_TILE

/* depthwise row sweep: 8 output pixels per register tile */
#define DWR_P 8
#define DWR_ZP 7
#include "../dw_rows.inc"
/* row streaming of an expansion 1x1 conv into the row sweep (stream.h): needs DWR_ROW_Z and the 14x32 / 16x16 gemm */
#include "../stream_expand_dw.inc"
#undef DWR_P
#undef DWR_ZP
#undef DWR_ROW_Z
#endif
