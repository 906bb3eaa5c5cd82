/* Winograd convolution F(m x m, 3 x 3) for 3x3 (and F(2 x 2, 5 x 5) for 5x5), stride-1, dilation-1, ungrouped NHWC
 * float32 convolutions
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
 *
 * The output is cut into m x m tiles (m = 4: 6x6 input tiles, 36 transform points; m = 2: 4x4 input tiles, 16 points).
 * Per tile:  Y = A^T [ U (.) V ] A  with  U = G g G^T (weights, transformed once at pack time, in double precision)
 * and V = B^T d B (input tile d, read through zeros where it leaves the image: 'same' padding and the partial tiles at
 * the bottom/right edge). Summed over input channels, the elementwise products become one GEMM per transform point:
 * M[p] (tiles x Cout) = V[p] (tiles x Cin) * U[p] (Cin x Cout), 36 GEMMs for m = 4, which do 4x fewer multiplies than
 * the direct convolution (2.25x for m = 2). The output transform adds the bias and the residual and applies the
 * activation (the same fused epilogue as the gemm tactics).
 *
 * F(2x2, 5x5) has 6x6 input tiles on the same points as F(4x4, 3x3) (0, 1, -1, 1/2, -2, infinity): 36 points per
 * 4 outputs instead of 100 products.
 *
 * Rounding: the transforms mix values of different magnitude (B^T has entries up to 2.5, A^T up to 8 for the 6-point
 * transforms), so the products of a point are larger than the outputs they cancel down to; the GEMMs of the 6-point
 * transforms therefore sum in K blocks of 32 channels. tests/unit/test_cpu_kernels.c states the bounds it checks
 * against a float64 convolution.
 *
 * Code: this plan, the weight transform and packing in winograd.c; the driver (threads, blocks) in
 * winograd_driver.inc; transforms and GEMMs per ISA in x86/winograd_avx512.c (asm 14x32 tile) and winograd_simd.inc
 * (AVX2, NEON: the portable vector vocabulary).
 *
 * Work is split into blocks of TB tiles whose transformed input and output (36 x TB x (Cin + Cout) floats) fit in
 * ~1.5 MiB of L2; a thread transforms a block, runs the 36 GEMMs on it, and transforms it back. When the tiles are few
 * and the weights large (14x14 and 7x7 stages at batch 1), threads split the output channels instead and each
 * transforms the same input block. Scratch: one slot per thread in the tactic's workspace (at most
 * KILN_WINO_MAX_THREADS slots: further threads stay idle in this layer). */
#ifndef KILN_CPU_WINOGRAD_H
#define KILN_CPU_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "opt_kernels.h"

#define KILN_WINO_MAX_THREADS 16
/* Panel width of the transformed weights (output channels per GEMM column block) and rows of the register tile. */
#define KILN_WINO_NR 32
#define KILN_WINO_MR 14

/* Geometry and blocking of one Winograd convolution at one batch. */
typedef struct {
    int m, r, alpha, P;             /* output tile, kernel (3 or 5), input tile (m + r - 1), points (alpha^2) */
    int64_t N, H, W, Cin, Cout, OH, OW;
    int PT, PL;
    int64_t tiles_h, tiles_w, T;    /* tiles per column, per row, in all (N * tiles_h * tiles_w) */
    int64_t CinP, CoutP;            /* Cin rounded up to 16, Cout rounded up to NR */
    int64_t ncb;                    /* NR-wide output-channel blocks */
    int64_t tb_max;                 /* tiles per block that fit the L2 budget (>= MR) */
    int64_t slot_tiles;             /* tiles one workspace slot holds: min(tb_max, T at this batch) */
    int64_t slot_floats;            /* floats of one slot: P * slot_tiles * (CinP + CoutP), 16-float multiple */
    int slots;                      /* slots in the workspace */
} kiln_wino_plan;

/* One run of a Winograd tactic (winograd_driver.inc): the plan at the run's batch, the packed weights and bias, the
 * residual or NULL, the workspace, pitches, tiles per block and blocks, channel splits per block, threads at work,
 * and the epilogue's activation code (the ISA's own: WINO_FAST_KIND). */
typedef struct {
    kiln_wino_plan p;
    const kiln_kernel_args *a;
    const float *U, *bias, *res;
    float *ws;
    int64_t XP, YP, tb, nb;
    int sc, active, fast;
} kiln_wino_job;

/* 1 when the node is a 3x3 / stride 1 / dilation 1 / groups 1 conv with constant weights (and bias) and an output of
 * at least 7x7 pixels. */
int kiln_wino_supports(const kiln_graph *g, const kiln_node *n);
/* The same, for F(4x4), with an output of at least 14x14 and >= KILN_WINO_F4_MIN_CIN input channels: its round-off (relative to the magnitudes
 * inside a 6x6 tile, amplified up to ~100x by B^T and A^T) is not averaged down by short reductions. Measured on
 * InceptionV3 (Keras conformance, softmax max|kiln - Keras|), with the F(4x4) of before stop 20 (winograd.c): 8.9e-5
 * with it on its 32-channel 147x147 convs, 4.2e-5 without (limit 1e-4; 1.4e-5 with no Winograd, 1.2e-5 with F(2x2)
 * everywhere). */
#define KILN_WINO_F4_MIN_CIN 64
int kiln_wino_supports_f4(const kiln_graph *g, const kiln_node *n);
/* F(2x2, 5x5): the same conditions as kiln_wino_supports for a 5x5 kernel. */
int kiln_wino_supports_k5(const kiln_graph *g, const kiln_node *n);
/* Plan for output tile m (2 or 4; the kernel size comes from the node's weights) at `batch` samples. */
void kiln_wino_plan_init(const kiln_graph *g, const kiln_node *n, int m, int batch, kiln_wino_plan *p);
/* Packed layout: U [P][ncb][Cin][NR] (zero past Cout), then the bias [CoutP] (zero where absent). */
size_t kiln_wino_packed_bytes(const kiln_graph *g, const kiln_node *n, int m);
void kiln_wino_pack(const kiln_graph *g, const kiln_node *n, int m, float *dst);
size_t kiln_wino_workspace(const kiln_graph *g, const kiln_node *n, int m, int batch);
/* Output tile of a Winograd tactic's run function (4 or 2), 0 for any other function. */
int kiln_wino_tile_of(kiln_tactic_run_fn run);

#if defined(__x86_64__)
void kiln_wino_f4_avx512(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_wino_f2_avx512(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_wino_f2k5_avx512(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
/* the same over the portable vector vocabulary (winograd_simd.inc): AVX2 + FMA */
void kiln_wino_f4_avx2(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_wino_f2_avx2(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_wino_f2k5_avx2(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
#endif
#if defined(__aarch64__)
void kiln_wino_f4_neon(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_wino_f2_neon(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_wino_f2k5_neon(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
#endif

#endif
