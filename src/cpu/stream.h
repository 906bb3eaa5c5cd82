/* Row streaming: an expansion 1x1 convolution computed a few rows at a time inside the depthwise convolution that
 * reads it (MobileNetV2 / EfficientNet inverted-residual blocks).
 *
 * Why: the expansion's output is the largest activation of such a block (MobileNetV2's 112x112x96: 4.8 MB). Layer by
 * layer, it is written to memory and read back by the depthwise conv; at two threads those layers run at the memory
 * bandwidth, not the FMA rate. Streamed, each thread computes the expansion rows its depthwise output rows need into
 * a ring of KH rows of its own (L1/L2 sized) and runs the depthwise kernel on the ring: the expansion's output never
 * goes to memory. Threads recompute the KH - stride rows where their row ranges meet. The same kernels do the
 * arithmetic (the gemm on one row, the depthwise row sweep), so results are bit-identical to running the two layers.
 *
 * In the engine (kiln_layer.stream, engine format v6): 1 on the expansion layer i; layer i + 1 is the depthwise conv.
 * The expansion's output keeps its arena slot (a CPU without the kernels runs the two layers one after the other),
 * and the memory plan keeps the expansion's input live through layer i + 1 (kiln_plan_memory_groups). */
#ifndef KILN_CPU_STREAM_H
#define KILN_CPU_STREAM_H

#include <stddef.h>

#include "../runtime/threadpool.h"
#include "kernel.h"

/* 1 when node i is a stem: a conv the direct kernels take (Cin <= KILN_DIRECT_MAX_CIN, conv_direct.h). Streamed, its
 * output rows are computed by the direct kernel into the ring (MobileNetV2 / EfficientNet's 3x3/2 3->32 stem and the
 * depthwise conv after it: the 1.6 MB 112x112x32 map never goes to memory). */
int kiln_stream_stem(const kiln_graph *g, int i);
/* 1 when node i (a 1x1 stride-1 unpadded ungrouped conv without residual, or a stem) and node i + 1 (a depthwise
 * conv of 3x3 or 5x5, stride 1 or 2, no dilation, reading node i's output as its input 0, which nothing else reads
 * and which is not a graph output) have the shape of a streamable pair, on rank-4 activations with channels a
 * multiple of 16 and an output width a multiple of 7 (the row sweep's zero-column tiles). */
int kiln_stream_pair_ok(const kiln_graph *g, int i);
/* 1 when the pair also runs streamed on this CPU with these (resolved) tactics of layers i and i + 1. */
int kiln_stream_tactics_ok(const kiln_graph *g, int i, int t_expand, int t_dw);
/* 1 when `threads` threads should run the pair (no projection) by channels: each computes the expansion's output
 * panels [p0, p1) (nr wide) over the whole map into its own buffer, then the depthwise output of those channels
 * (nothing computed twice, the map in the thread's L2); 0: by rows, each thread with a ring of KH expansion rows
 * (recomputing the KH - stride rows where its range meets the next). Chosen by the two splits' estimated slowest
 * thread: 7x7 maps and 5x5 kernels favour channels (a 4 : 3 row split recomputes 4 of 7 rows). */
int kiln_stream_csplit(const kiln_graph *g, int i, int nr, int threads);
/* Workspace bytes of the streamed pair (layer i + 1's slot): the gemm's zero row and one ring (or whole-map buffer,
 * kiln_stream_csplit) per thread. */
size_t kiln_stream_workspace(const kiln_graph *g, int i, int threads);
/* Run layers i and i + 1 streamed: ea / da are their kernel arguments (ea->out unused), epacked the expansion's
 * packed weights, da->workspace kiln_stream_workspace bytes for kiln_threadpool_size(pool) threads. With pa (layer
 * i + 2, a 1x1 projection conv, layers[i].stream = 3), each depthwise output row goes to a per-thread row buffer and
 * the projection computes its output row from it at once (kiln_stream_workspace3): the depthwise output never goes
 * to memory either. */
void kiln_stream_run(int t_expand, const kiln_kernel_args *ea, const void *epacked, const kiln_kernel_args *da,
                     int t_project, const kiln_kernel_args *pa, const void *ppacked, kiln_threadpool *pool);
/* The triple: kiln_stream_pair_ok(g, i) and node i + 2 a 1x1 stride-1 unpadded ungrouped conv reading node i + 1's
 * output (read by nothing else, not a graph output) as input 0, its other inputs from before node i. */
int kiln_stream_triple_ok(const kiln_graph *g, int i);
int kiln_stream_triple_tactics_ok(const kiln_graph *g, int i, int t_expand, int t_dw, int t_project);
size_t kiln_stream_workspace3(const kiln_graph *g, int i, int threads);

/* Squeeze-excite folding (layers[i].stream = 2 on the squeeze-excite layer i): the squeeze-excite computes only its
 * gates; layer i + 1, a 1x1 conv, reads its input 0 as x * gate while it loads each tile group's rows (a scratch copy
 * in L1 / L2, kiln_kernel_args.in0_scale), so y = x * gate (as large as the depthwise output it scales: 1.2-1.8 MB
 * in EfficientNet-B0's first blocks) is never written and read back. The products are the same float multiplies:
 * results are bit-identical. */
/* 1 when node i is a squeeze-excite (constant weights) and node i + 1 a 1x1 stride-1 unpadded ungrouped conv reading
 * its output as input 0, which nothing else reads and which is not a graph output, on rank-4 activations. */
int kiln_se_fold_pair_ok(const kiln_graph *g, int i);
/* 1 when the pair also folds on this CPU with these (resolved) tactics: an optimized squeeze-excite, a gemm or AMX
 * conv. */
int kiln_se_fold_tactics_ok(const kiln_graph *g, int i, int t_se, int t_conv);
/* Workspace bytes of the folded pair with conv tactic t_conv: the conv's (gemm: zero row and scratch copies, one per
 * thread; AMX: its split images), then the squeeze-excite's own (its gates). */
size_t kiln_se_fold_workspace(const kiln_graph *g, int i, int t_conv, int batch, int threads);
/* Run layers i and i + 1 folded: sa / ca their kernel arguments (ca->in[0] is replaced by sa->in[0]; sa->out
 * unused), cpacked the conv's packed weights, ca->workspace kiln_se_fold_workspace bytes. */
void kiln_se_fold_run(int t_se, int t_conv, const kiln_kernel_args *sa, const kiln_kernel_args *ca,
                      const void *cpacked, kiln_threadpool *pool);

#endif
