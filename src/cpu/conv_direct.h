/* Direct convolution for few input channels (conv_direct.inc): the stems of image networks (RGB in). */
#ifndef KILN_CPU_CONV_DIRECT_H
#define KILN_CPU_CONV_DIRECT_H

#include "opt_kernels.h"

/* Largest Cin (groups == 1) the direct kernel takes: a tap's channels are unrolled in its FMA loop. */
#define KILN_DIRECT_MAX_CIN 4

/* 1 when the node is a Conv2D the direct kernels compute: constant weights (and bias), groups 1, 1 <= Cin <= 4,
 * at most KILN_GEMM_MAX_TAPS taps. Weights are packed by kiln_pack_gemm with NR = 2 vectors of the ISA. */
int kiln_conv_direct_supports(const kiln_graph *g, const kiln_node *n);

#if defined(__x86_64__)
void kiln_conv_direct_avx512(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_conv_direct_avx2(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
#endif

#endif
