/* Depthwise convolution, row-sweep variant (dw_rows.inc): the same nodes as kiln_dwconv_* (tactics.c dw_ok). */
#ifndef KILN_CPU_DW_ROWS_H
#define KILN_CPU_DW_ROWS_H

#include "opt_kernels.h"

#if defined(__x86_64__)
void kiln_dwconv_rows_avx512(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_dwconv_rows_avx2(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
#endif

#endif
