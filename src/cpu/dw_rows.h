/* Depthwise convolution, row-sweep variant (dw_rows.inc): the same nodes as kiln_dwconv_* (tactics.c dw_ok). */
#ifndef KILN_CPU_DW_ROWS_H
#define KILN_CPU_DW_ROWS_H

#include "opt_kernels.h"

#if defined(__x86_64__)
void kiln_dwconv_rows_avx512(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
void kiln_dwconv_rows_avx2(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);
/* Row streaming (stream.h): an expansion 1x1 conv (ea, weights packed nr wide) computed into per-thread rings of
 * ring_rows rows inside the depthwise conv da (stream_expand_dw.inc); csplit: threads split channel panels, each
 * buffer holding the whole map (kiln_stream_csplit); direct: ea is a stem on kiln_conv_direct_avx512 instead (rows
 * only). */
void kiln_expand_dw_avx512(const kiln_kernel_args *ea, const void *epacked, int nr, const kiln_kernel_args *da,
                           const kiln_kernel_args *pa, const void *ppacked, int pnr, int csplit, int64_t ring_rows,
                           int direct, kiln_threadpool *pool);
#endif

#endif
