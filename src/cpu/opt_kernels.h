/* Optimized CPU kernels: the interface between the per-ISA translation units (x86/, arm/, generic/) and the tactic
 * registry (tactics.c).
 *
 * Every ISA file includes simd_kernels.inc with its own vector macros, so the same algorithms exist once per ISA:
 *   conv_gemm  NHWC convolution as an indirect GEMM: an output tile of MR pixels x NR channels is accumulated in
 *              registers over every tap (kh,kw) and input channel, reading the input through a per-tile table of row
 *              pointers (padding taps point at a zero row), so no im2col buffer exists; 1x1 convs and dense layers
 *              are the same kernel with one tap. Weights are packed once (kiln_pack_gemm) into NR-wide panels with
 *              the bias in front; the epilogue adds the bias and applies the activation (src/core/act.h math;
 *              sigmoid / swish with a vector exp). Loop blocking: gemm_variant.inc; AVX-512 K loop: x86/kernels_avx512.c.
 *   dwconv     depthwise (groups == Cin == Cout) direct kernel, vectorized over channels.
 *   pool       max/avg windows and the global average/max, vectorized over channels.
 *   binary     Add/Sub/Mul/Max/Min/Div for equal shapes and per-channel broadcasts.
 *   squeeze_excite  the fused SE block: vector global pool, two small dense layers, channel-wise multiply.
 * All of them split their work statically over the pool's threads. */
#ifndef KILN_CPU_OPT_KERNELS_H
#define KILN_CPU_OPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/act.h"
#include "../runtime/threadpool.h"
#include "kernel.h"

/* Largest KH*KW the gemm kernels take (a tile's row-pointer table lives on the stack). */
#define KILN_GEMM_MAX_TAPS 64
/* Row pointers a gemm thread keeps for a group of pixel tiles (on its stack: 64 KiB); >= KILN_GEMM_MAX_TAPS * MR. */
#define KILN_GEMM_PTRS 8192
/* Largest MR of any gemm variant. */
#define KILN_GEMM_MAX_MR 16

/* A tactic's run function: compute the node like its reference kernel. `packed` is what the tactic's pack step made
 * (NULL when it packs nothing); workspace is a->workspace. */
typedef void (*kiln_tactic_run_fn)(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);

/* Convolution / dense geometry seen by the gemm driver (dense: N=1, H=OH=rows, W=OW=1, one tap). */
typedef struct {
    int64_t N, H, W, Cin, OH, OW, Cout;
    int KH, KW, SH, SW, DH, DW, PT, PL;
    int groups, CinG, CoutG;
    int64_t XP, YP;      /* floats between consecutive pixels of x and y (Cin, Cout unless a planner view) */
    const float *x;
    float *y;
    const float *res;    /* residual [pixels, Cout] added before the activation, or NULL */
    const float *packed; /* kiln_pack_gemm layout for this NR */
    const float *zero;   /* Cin (= groups * CinG) zeros (workspace): padding rows, offset like real rows */
    kiln_act act;
    const float *a_scale; /* kiln_kernel_args.in0_scale (1x1 convs): each tile group's input rows are copied into
                           * a_scratch multiplied by it, and the tiles read the copy; NULL = none */
    float *a_scratch;    /* per thread KILN_GEMM_SCALE_FLOATS(Cin) floats (workspace after the zero row) */
    int c_init;          /* 1: y already holds the residual (the planner put y over it): the first K block adds to
                          * it like a partial sum and res is NULL (kiln_gemm_res_in_place) */
} kiln_gemm_geom;
/* A residual the output was planned over (res == y, dense): becomes the output's initial partial sums. */
static inline void kiln_gemm_res_in_place(kiln_gemm_geom *G)
{
    if (G->res && (const float *)G->y == G->res && G->YP == G->Cout) G->res = NULL, G->c_init = 1;
}
/* Scratch of one thread of a gemm with a_scale: up to 4 tiles of KILN_GEMM_MAX_MR rows of Cin floats. */
#define KILN_GEMM_SCALE_FLOATS(cin) ((int64_t)4 * KILN_GEMM_MAX_MR * (cin))

/* Packed layout for panel width NR: for each group g, for each block b of NR output channels of the group:
 *   [NR floats: bias (0 where absent or past CoutG)] [KH*KW*CinG*NR floats: W[kh,kw,ci, g*CoutG + b*NR + j]]. */
size_t kiln_pack_gemm_bytes(const kiln_graph *g, const kiln_node *n, int nr);
void kiln_pack_gemm(const kiln_graph *g, const kiln_node *n, int nr, float *dst);
/* Fill *geom from a conv or dense node's arguments. */
void kiln_gemm_geom_init(const kiln_kernel_args *a, const void *packed, kiln_gemm_geom *geom);
/* Zero-bordered input copies (the AVX-512 14x32 gemm): floats of a copy of a conv's input with its padding written
 * out as zeros (*Hp x *Wp pixels a sample), or 0 when the node has one tap, no padding, or is not a convolution.
 * Taps over padding read the shared zero row, so a tile whose window touches the border is not "uniform" and leaves
 * the assembly loop; on the copy every tap of every tile is. Lives in the workspace after the zero row. */
int64_t kiln_gemm_padded_floats(const kiln_graph *g, const kiln_node *n, int batch, int64_t *Hp, int64_t *Wp);
/* Where that copy starts in the workspace (floats): after the zero row, 64-byte aligned. */
int64_t kiln_gemm_padded_offset(const kiln_graph *g, const kiln_node *n);

/* Entry points of one ISA. */
#define KILN_DECLARE_ISA_KERNELS(SUF)                                                                     \
    void kiln_dwconv_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);         \
    void kiln_maxpool_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);        \
    void kiln_avgpool_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);        \
    void kiln_global_avgpool_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool); \
    void kiln_global_maxpool_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool); \
    void kiln_binary_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);         \
    void kiln_squeeze_excite_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool); \
    void kiln_squeeze_excite_gates_##SUF(const kiln_kernel_args *a, kiln_threadpool *pool);
#define KILN_DECLARE_GEMM(MR, NR, SUF) \
    void kiln_gemm_##MR##x##NR##_##SUF(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);

KILN_DECLARE_ISA_KERNELS(generic)
KILN_DECLARE_GEMM(4, 8, generic)
KILN_DECLARE_GEMM(1, 16, generic)
#if defined(__x86_64__)
KILN_DECLARE_ISA_KERNELS(avx2)
KILN_DECLARE_GEMM(6, 16, avx2)
KILN_DECLARE_GEMM(4, 24, avx2)
KILN_DECLARE_GEMM(1, 32, avx2)
KILN_DECLARE_ISA_KERNELS(avx512)
KILN_DECLARE_GEMM(8, 32, avx512)
KILN_DECLARE_GEMM(12, 32, avx512)
KILN_DECLARE_GEMM(7, 48, avx512)
KILN_DECLARE_GEMM(7, 64, avx512)
KILN_DECLARE_GEMM(14, 32, avx512)
KILN_DECLARE_GEMM(16, 16, avx512)
KILN_DECLARE_GEMM(1, 64, avx512)
#endif
#if defined(__aarch64__)
KILN_DECLARE_ISA_KERNELS(neon)
KILN_DECLARE_GEMM(8, 8, neon)
KILN_DECLARE_GEMM(4, 16, neon)
KILN_DECLARE_GEMM(1, 16, neon)
#endif

#endif
