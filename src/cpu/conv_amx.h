/* Convolutions on Intel AMX (the tile matrix unit of Sapphire Rapids and later Xeons) at float32 accuracy.
 *
 * AMX multiplies bfloat16 (8 significant bits) and accumulates in float32, 16x faster per core than AVX-512 float32
 * FMAs. A float32 is exactly the sum of three bfloat16 parts (x = x0 + x1 + x2: 8 + 8 + 8 significant bits, each part
 * the round-to-nearest of what the previous ones left), so
 *     x * w = x0 w0 + x0 w1 + x1 w0 + x0 w2 + x1 w1 + x2 w0  +  (x1 w2 + x2 w1 + x2 w2)
 * and the six products kept (each exact in float32) leave out terms below 2^-24 of |x w|, the size of float32's own
 * rounding: "bf16x6", the split TPUs use for full float32 precision. Six AMX products still run ~2.5x the AVX-512
 * float32 FMA peak. Not bit-identical to the gemm tactics (another summation order), same error class
 * (tests/unit/test_cpu_kernels.c checks the bound, docs/CONFORMANCE.md the networks).
 *
 * Layout (implicit GEMM, NHWC): the input is first split into the three parts, each written as a zero-bordered
 * bfloat16 image S (Hs x Ws pixels of CinP channels; CinP = Cin rounded up to 32; strided 1x1 convs subsample into S).
 * Output pixel (oy, ox) is row q = oy * Ws + ox of a "virtual" GEMM whose tap (kh, kw) reads S row q + kh * Ws + kw:
 * so 16 consecutive rows are one AMX tile load with a constant stride. Rows with ox >= OW (the border columns) are
 * computed and dropped (7x7 maps: 2 of 9 columns; 56x56: 2 of 58). A thread's unit is 32 rows x 32 output channels
 * (2 x 2 tiles of 16 x 16 float32 accumulators, 4 tile registers for the parts being multiplied); the fused epilogue
 * adds the bias and the residual and applies the activation on the way to the NHWC output.
 *
 * Packed weights: [Cout/32 blocks][taps][CinP/32][3 parts][2 halves] tiles of 16 rows (channel pairs) x 16 columns x 2
 * (AMX's pair-interleaved "VNNI" layout), 1 KiB each, then the bias (float32, CoutP = Cout rounded up to 32): 1.5x the
 * float32 weight bytes, so only in local mode, where they stay in L2. In shared mode (large weights, read from memory
 * every run) they stay float32 in the same tile order and are split chunk by chunk as they are used, so memory
 * traffic is the float32 kernels'.
 *
 * The weights are split rounding to nearest (at pack time); the input is split by truncation (x0 = the top 16 bits
 * of x, and so on: 2x cheaper at run time, also exact), which makes the left-out terms at most 2^-22 |x w|. Workspace: the three split images (or, in local mode, one slot of them per thread). */
#ifndef KILN_CPU_CONV_AMX_H
#define KILN_CPU_CONV_AMX_H

#include <stddef.h>
#include <stdint.h>

#include "opt_kernels.h"

typedef struct {
    int64_t N, H, W, Cin, OH, OW, Cout;
    int KH, KW, SH, SW, PT, PL;  /* strides: 1 unless the kernel is 1x1 */
    int64_t Hs, Ws;              /* split image S per sample */
    int64_t CinP, CoutP, KC, NB; /* padded channels, 32-channel K chunks, 32-channel output blocks */
    int64_t AP;                  /* elements between rows of a split image (CinP, or more against L1 set conflicts) */
    /* im2col (convs of < 32 input channels: stems): planned as a 1x1 conv whose Cin is the window's IKH x IKW x
     * ICin values; S row q is the window of output pixel q (strides and padding applied while gathering it) */
    int im2col, IKH, IKW;
    int64_t ICin;
    int64_t Mv;                  /* virtual rows per sample: (OH - 1) * Ws + OW */
    int64_t MB;                  /* 32-row blocks per sample */
    int64_t Ls;                  /* S rows per sample, incl. the zero rows the last block's taps read past Hs * Ws */
    /* Local mode (weights small enough to stay in L2): each thread splits only the rows of its own superblock of SB
     * 32-row blocks (Lr rows with the taps' reach) into its slot of the workspace and runs every output-channel block
     * on them, so the split input never leaves the core's caches. Otherwise one split pass over the whole input
     * (Ls rows a sample) and output-channel blocks outermost. */
    int local, SB;
    int64_t Lr;
} kiln_amx_plan;
/* Workspace slots (one a thread): threads beyond it stay idle in the layer. */
#define KILN_AMX_MAX_THREADS 16
/* Shared mode: 32-row blocks per unit, and a thread's slot: their accumulators, then one split weight chunk. */
#define KILN_AMX_GROUP 8
#define KILN_AMX_RUN 2
#define KILN_AMX_SLOT_FLOATS (KILN_AMX_GROUP * 1024 + KILN_AMX_RUN * 3 * 1024 / 2)

/* 1 when this CPU has AMX-TILE, AMX-BF16 and AVX512-BF16, the OS saves tile state, Linux granted this process the
 * tile data permission (arch_prctl ARCH_REQ_XCOMP_PERM, asked once here) and KILN_ISA does not lower the level below
 * avx512. */
int kiln_cpu_has_amx(void);
/* Ungrouped convs with constant weights, dilation 1: a KxK kernel at stride 1, or a 1x1 kernel at any stride (no
 * padding), with Cin >= 32; or, with fewer input channels (stems), any kernel and stride whose window holds 32 to
 * 1024 values (im2col). Also needs kiln_cpu_has_amx(). */
int kiln_amx_supports(const kiln_graph *g, const kiln_node *n);
void kiln_amx_plan_init(const kiln_graph *g, const kiln_node *n, int batch, kiln_amx_plan *p);
size_t kiln_amx_packed_bytes(const kiln_graph *g, const kiln_node *n);
void kiln_amx_pack(const kiln_graph *g, const kiln_node *n, void *dst);
size_t kiln_amx_workspace(const kiln_graph *g, const kiln_node *n, int batch);
/* Shared mode: where (bfloat16 elements into the workspace) the per-thread slots start. */
int64_t kiln_amx_shared_slot_offset(const kiln_amx_plan *p);
/* 1 when run is the AMX tactic's function. */
int kiln_amx_is(kiln_tactic_run_fn run);

#if defined(__x86_64__)
void kiln_conv_amx_bf16x6(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
#endif

#endif
