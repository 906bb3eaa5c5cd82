/* The K-loop body shared by kiln's AVX-512 14x32 register tiles (gemm_variant's uniform tiles in kernels_avx512.c and
 * Winograd's per-point GEMMs in winograd_avx512.c): one k step for 14 rows = 14 broadcasts from a0 + {0,1,2,3,4,5,6} *
 * s1 and a7 + the same, each multiplied by the 32 weights already in zmm28/zmm29 and accumulated into zmm0..zmm27.
 * An inline-asm string fragment: the enclosing asm block must name its operands a0, a7, s1, s3 (3*s1), s5 (5*s1). */
#ifndef KILN_CPU_X86_AVX512_TILE14_H
#define KILN_CPU_X86_AVX512_TILE14_H

#define KILN_AVX512_14x32_FMA_STEP \
    "vbroadcastss (%[a0]), %%zmm30\n" \
    "vfmadd231ps %%zmm28, %%zmm30, %%zmm0\n" \
    "vfmadd231ps %%zmm29, %%zmm30, %%zmm1\n" \
    "vbroadcastss (%[a0],%[s1],1), %%zmm31\n" \
    "vfmadd231ps %%zmm28, %%zmm31, %%zmm2\n" \
    "vfmadd231ps %%zmm29, %%zmm31, %%zmm3\n" \
    "vbroadcastss (%[a0],%[s1],2), %%zmm30\n" \
    "vfmadd231ps %%zmm28, %%zmm30, %%zmm4\n" \
    "vfmadd231ps %%zmm29, %%zmm30, %%zmm5\n" \
    "vbroadcastss (%[a0],%[s3],1), %%zmm31\n" \
    "vfmadd231ps %%zmm28, %%zmm31, %%zmm6\n" \
    "vfmadd231ps %%zmm29, %%zmm31, %%zmm7\n" \
    "vbroadcastss (%[a0],%[s1],4), %%zmm30\n" \
    "vfmadd231ps %%zmm28, %%zmm30, %%zmm8\n" \
    "vfmadd231ps %%zmm29, %%zmm30, %%zmm9\n" \
    "vbroadcastss (%[a0],%[s5],1), %%zmm31\n" \
    "vfmadd231ps %%zmm28, %%zmm31, %%zmm10\n" \
    "vfmadd231ps %%zmm29, %%zmm31, %%zmm11\n" \
    "vbroadcastss (%[a0],%[s3],2), %%zmm30\n" \
    "vfmadd231ps %%zmm28, %%zmm30, %%zmm12\n" \
    "vfmadd231ps %%zmm29, %%zmm30, %%zmm13\n" \
    "vbroadcastss (%[a7]), %%zmm31\n" \
    "vfmadd231ps %%zmm28, %%zmm31, %%zmm14\n" \
    "vfmadd231ps %%zmm29, %%zmm31, %%zmm15\n" \
    "vbroadcastss (%[a7],%[s1],1), %%zmm30\n" \
    "vfmadd231ps %%zmm28, %%zmm30, %%zmm16\n" \
    "vfmadd231ps %%zmm29, %%zmm30, %%zmm17\n" \
    "vbroadcastss (%[a7],%[s1],2), %%zmm31\n" \
    "vfmadd231ps %%zmm28, %%zmm31, %%zmm18\n" \
    "vfmadd231ps %%zmm29, %%zmm31, %%zmm19\n" \
    "vbroadcastss (%[a7],%[s3],1), %%zmm30\n" \
    "vfmadd231ps %%zmm28, %%zmm30, %%zmm20\n" \
    "vfmadd231ps %%zmm29, %%zmm30, %%zmm21\n" \
    "vbroadcastss (%[a7],%[s1],4), %%zmm31\n" \
    "vfmadd231ps %%zmm28, %%zmm31, %%zmm22\n" \
    "vfmadd231ps %%zmm29, %%zmm31, %%zmm23\n" \
    "vbroadcastss (%[a7],%[s5],1), %%zmm30\n" \
    "vfmadd231ps %%zmm28, %%zmm30, %%zmm24\n" \
    "vfmadd231ps %%zmm29, %%zmm30, %%zmm25\n" \
    "vbroadcastss (%[a7],%[s3],2), %%zmm31\n" \
    "vfmadd231ps %%zmm28, %%zmm31, %%zmm26\n" \
    "vfmadd231ps %%zmm29, %%zmm31, %%zmm27\n"

/* The whole K loop of those tiles (label 1, kc iterations in operand k): per k, the 32 weights into zmm28/29, 128
 * bytes prefetched into L2 from pf (which then advances pfs bytes), the FMA step, every pointer one k on. Operands as
 * above plus w, k, pf, pfs. */
#define KILN_AVX512_14x32_K_LOOP \
    "1:\n" \
    "vmovups (%[w]), %%zmm28\n" \
    "vmovups 64(%[w]), %%zmm29\n" \
    "prefetcht1 (%[pf])\n" \
    "prefetcht1 64(%[pf])\n" \
    KILN_AVX512_14x32_FMA_STEP \
    "add $4, %[a0]\n" \
    "add $4, %[a7]\n" \
    "add $128, %[w]\n" \
    "add %[pfs], %[pf]\n" \
    "dec %[k]\n" \
    "jnz 1b\n"

#endif
