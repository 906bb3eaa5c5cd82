/* The uniform 16x16 tile of kiln's one-vector-wide AVX-512 gemm (conv_gemm_avx512_16x16: convs with 16 or fewer
 * output channels, MobileNetV2 / EfficientNet's first projections, 112x112 32->16), the hooks gemm_variant.inc
 * calls for a tile whose rows are two runs of one step (rows 0..7 at a0 + r * step, rows 8..15 at a8 + (r - 8) *
 * step: every tile of a 1x1 stride-1 conv).
 *
 * Why assembly: the C kernel keeps 16 row pointers, which do not fit the general registers beside the loop's other
 * state; GCC spilled them to vector registers and moved each back before its FMA (perf annotate: ~40% of the samples
 * outside the FMAs; 112x112 32->16 ran at 26% of the FMA peak). Here two bases and four stride multiples address all
 * 16 rows, each FMA takes its input value as an embedded broadcast, and with K = 16..32 the whole tile (zero, K loop,
 * epilogue, stores) stays in registers. Included by kernels_avx512.c only (after <immintrin.h>, AVX-512 target). */
#ifndef KILN_CPU_X86_AVX512_TILE16X16_H
#define KILN_CPU_X86_AVX512_TILE16X16_H

#include <stddef.h>
#include <stdint.h>

/* gemm_variant.inc's UNIFORM_LOOP for partial tiles (rows past the end repeat the last pixel, which is uniform only
 * by accident): the K loop on 16 accumulators kept in acc (64-byte aligned, row-major 16 x 1). Weights already in L1
 * for such narrow panels: pf is not used. Each accumulator is one FMA chain in k order, as in the C kernel. */
static inline void avx512_uniform_16x16(float *acc, const float *a0, const float *a8, int64_t step, const float *w,
                                        int64_t kc, const float *pf, int64_t pfs)
{
    (void)pf, (void)pfs;
    __m512 c[16];
    for (int r = 0; r < 16; r++) c[r] = _mm512_load_ps(acc + 16 * r);
    for (int64_t k = 0; k < kc; k++, w += 16) {
        const __m512 b = _mm512_loadu_ps(w);
        for (int r = 0; r < 8; r++) {
            c[r] = _mm512_fmadd_ps(_mm512_set1_ps(a0[r * step + k]), b, c[r]);
            c[8 + r] = _mm512_fmadd_ps(_mm512_set1_ps(a8[r * step + k]), b, c[8 + r]);
        }
    }
    for (int r = 0; r < 16; r++) _mm512_store_ps(acc + 16 * r, c[r]);
}

/* The store step's inputs, addressed by offset from the asm (checked below). */
typedef struct {
    float *c[16];             /* output rows */
    const float *res[16];     /* residual rows, or unused */
    const float *bias;        /* 16 floats (the packed panel's bias: always 16, zero past nvalid) */
    int32_t first, last;      /* as gemm_store_ */
    int32_t act;              /* 0 none, 1 relu, 2 min(max(x, 0), hi) when last; anything else applied after */
    int32_t has_res;
    float hi;
    uint32_t mask;            /* the nvalid output channels that exist */
    const float *const *tap;  /* per tap: rows 0 and 8's first operand */
    int64_t ntaps;            /* >= 1 */
    int64_t kc;               /* k steps of each tap */
} avx512_tile16_epi;
_Static_assert(offsetof(avx512_tile16_epi, bias) == 256 && offsetof(avx512_tile16_epi, first) == 264 &&
                   offsetof(avx512_tile16_epi, last) == 268 && offsetof(avx512_tile16_epi, act) == 272 &&
                   offsetof(avx512_tile16_epi, has_res) == 276 && offsetof(avx512_tile16_epi, hi) == 280 &&
                   offsetof(avx512_tile16_epi, mask) == 284 && offsetof(avx512_tile16_epi, tap) == 288 &&
                   offsetof(avx512_tile16_epi, kc) == 304,
               "avx512_tile16_epi layout is addressed by offset in asm");

/* row r: its accumulator zmm<r> and its operand's address in the K loop (base a0 or a8, then 0, s1, 2 s1, s3, 4 s1,
 * s5, 2 s3, s7) */
#define T16_ROWS(M) M(0, "(%[a0])") M(1, "(%[a0],%[s1],1)") M(2, "(%[a0],%[s1],2)") M(3, "(%[a0],%[s3],1)") \
    M(4, "(%[a0],%[s1],4)") M(5, "(%[a0],%[s5],1)") M(6, "(%[a0],%[s3],2)") M(7, "(%[a0],%[s7],1)") \
    M(8, "(%[a8])") M(9, "(%[a8],%[s1],1)") M(10, "(%[a8],%[s1],2)") M(11, "(%[a8],%[s3],1)") \
    M(12, "(%[a8],%[s1],4)") M(13, "(%[a8],%[s5],1)") M(14, "(%[a8],%[s3],2)") M(15, "(%[a8],%[s7],1)")
#define T16_ZERO(r, addr) "vpxord %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n"
#define T16_FMA(r, addr) "vfmadd231ps " addr "%{1to16%}, %%zmm16, %%zmm" #r "\n"
#define T16_ADD_C(r, addr) "mov " #r "*8(%[ep]), %%rax\n" "vaddps (%%rax), %%zmm" #r ", %%zmm" #r "%{%%k1%}\n"
#define T16_ADD_RES(r, addr) "mov 128+" #r "*8(%[ep]), %%rax\n" "vaddps (%%rax), %%zmm" #r ", %%zmm" #r "%{%%k1%}\n"
#define T16_ADD_BIAS(r, addr) "vaddps %%zmm17, %%zmm" #r ", %%zmm" #r "\n"
#define T16_MAX0(r, addr) "vmaxps %%zmm18, %%zmm" #r ", %%zmm" #r "\n"
#define T16_MINHI(r, addr) "vminps %%zmm19, %%zmm" #r ", %%zmm" #r "\n"
#define T16_STORE(r, addr) "mov " #r "*8(%[ep]), %%rax\n" "vmovups %%zmm" #r ", (%%rax)%{%%k1%}\n"

/* A whole uniform 16x16 tile: accumulators zeroed, the K loop of every tap (per k: the 16 weights into zmm16, 16
 * FMAs), then gemm_store_'s step (+ the partial sums in c unless first; when last: + bias, + residual, relu / relu6)
 * and the masked stores. Same operations in the same order as the C kernel: results are identical. */
static inline void avx512_tile_16x16(int64_t step_floats, const float *w, const avx512_tile16_epi *ep)
{
    const int64_t s1 = step_floats * 4, s3 = 3 * s1, s5 = 5 * s1, s7 = 7 * s1;
    const char *pa0 = NULL, *pa8 = NULL, *const *tab = (const char *const *)ep->tap;
    const char *pw = (const char *)w;
    int64_t kc = 0, nt = ep->ntaps;
    __asm__ volatile(
        T16_ROWS(T16_ZERO)
        "kmovw 284(%[ep]), %%k1\n"
        "5:\n"
        "mov (%[tab]), %[a0]\n"
        "mov 8(%[tab]), %[a8]\n"
        "add $16, %[tab]\n"
        "mov 304(%[ep]), %[k]\n"
        "test %[k], %[k]\n"
        "jz 7f\n"
        "1:\n"
        "vmovups (%[w]), %%zmm16\n"
        T16_ROWS(T16_FMA)
        "add $4, %[a0]\n"
        "add $4, %[a8]\n"
        "add $64, %[w]\n"
        "dec %[k]\n"
        "jnz 1b\n"
        "7:\n"
        "dec %[nt]\n"
        "jnz 5b\n"
        "cmpl $0, 264(%[ep])\n"
        "jne 3f\n"
        T16_ROWS(T16_ADD_C)
        "3:\n"
        "cmpl $0, 268(%[ep])\n"
        "je 6f\n"
        "mov 256(%[ep]), %%rax\n"
        "vmovups (%%rax), %%zmm17\n"
        T16_ROWS(T16_ADD_BIAS)
        "cmpl $0, 276(%[ep])\n"
        "je 4f\n"
        T16_ROWS(T16_ADD_RES)
        "4:\n"
        "cmpl $1, 272(%[ep])\n"
        "jl 6f\n"
        "cmpl $2, 272(%[ep])\n"
        "jg 6f\n"
        "vpxord %%zmm18, %%zmm18, %%zmm18\n"
        T16_ROWS(T16_MAX0)
        "cmpl $2, 272(%[ep])\n"
        "jne 6f\n"
        "vbroadcastss 280(%[ep]), %%zmm19\n"
        T16_ROWS(T16_MINHI)
        "6:\n"
        T16_ROWS(T16_STORE)
        : [a0] "+r"(pa0), [a8] "+r"(pa8), [w] "+r"(pw), [k] "+r"(kc), [tab] "+r"(tab), [nt] "+r"(nt)
        : [ep] "r"(ep), [s1] "r"(s1), [s3] "r"(s3), [s5] "r"(s5), [s7] "r"(s7)
        : "rax", "k1", "memory", "cc", "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9",
          "zmm10", "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19");
}

/* gemm_variant.inc's UNIFORM_TILE hook: a tile of ntaps taps (tap[2t], tap[2t + 1]: rows 0 and 8 of tap t, all
 * of one step), kc k steps each, 1..16 channels (masked loads and stores); row r's output at crow[r], its residual
 * at rrow[r] (rrow NULL: none). */
static inline void avx512_uniform_tile_16x16(const float *const *tap, int ntaps, int64_t step, const float *w,
                                             int64_t kc, const float *pf, int64_t pfs, float *const *crow,
                                             int first, int last, const float *bias, const float *const *rrow,
                                             int fast, float hi, int nvalid)
{
    (void)pf, (void)pfs;
    avx512_tile16_epi ep;
    ep.tap = tap, ep.ntaps = ntaps, ep.kc = kc;
    ep.mask = nvalid >= 16 ? 0xffffu : (1u << nvalid) - 1u;
    for (int r = 0; r < 16; r++) ep.c[r] = crow[r], ep.res[r] = rrow ? rrow[r] : NULL;
    ep.bias = bias, ep.first = first, ep.last = last, ep.act = fast, ep.has_res = rrow != NULL, ep.hi = hi;
    avx512_tile_16x16(step, w, &ep);
}

#endif
