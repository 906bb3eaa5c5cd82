/* Memory planner: every intermediate activation gets a byte offset in ONE arena, sized for the engine's batch_max.
 *
 * Liveness: nodes run in their (topological) array order, one step each. A value is live from the step of the node
 * that produces it to the step of its last reader, both included (so an output never shares bytes with an input of
 * the same node: kernels do not work in place). Graph inputs and outputs live in the caller's buffers and constants
 * in the weights block, so only the other activations are planned.
 *
 * Placement is best-fit greedy: buffers are placed one by one, each into the smallest gap between already-placed
 * buffers whose lifetimes overlap its own (else above the highest of them), in three orders (largest first,
 * longest-lived first, by birth); the smallest arena wins. Sizes and offsets are multiples of 64 bytes. */
#ifndef KILN_PLAN_PLAN_H
#define KILN_PLAN_PLAN_H

#include <stdint.h>

#include "../core/graph.h"

#define KILN_PLAN_ALIGN 64

typedef struct {
    int64_t size;          /* bytes, a multiple of KILN_PLAN_ALIGN */
    int32_t first, last;   /* live during steps [first, last] */
} kiln_plan_buffer;

/* Place n buffers; writes offsets[i] and returns the arena size, or -1 when out of memory. */
int64_t kiln_plan_place(const kiln_plan_buffer *bufs, int n, int64_t *offsets);
/* The largest total size of buffers live at one step: no placement can use less. */
int64_t kiln_plan_lower_bound(const kiln_plan_buffer *bufs, int n);

/* Bytes of an activation value for `batch` samples, rounded up to KILN_PLAN_ALIGN. */
int64_t kiln_plan_value_bytes(const kiln_value *v, int batch);

/* The full planner (what the engine builder uses). On top of kiln_plan_memory's liveness and best-fit placement:
 *
 * VIEWS. A Slice's output is a view of its input, and (when eliminate_concat) each input of a last-axis Concat is a
 * view of the Concat's output: values linked this way share ONE buffer, each owning a channel range of it, and are
 * stored NHWC with the buffer's channel count as row pitch (value_pitch[v] floats; 0 = dense). Producers write their
 * range in place, so those Slice / Concat kernels find their data already there and copy nothing. A link is made only
 * when every value involved is neither pinned nor read or written by a kernel that ignores pitches
 * (kiln_plan_op_reads_pitch / kiln_plan_op_writes_pitch), and when the buffer's real writers own disjoint channel
 * ranges; otherwise that Concat stays a copy.
 *
 * IN PLACE (when in_place). A Reshape/Identity output is the same bytes as its input (an alias; the copy kernel skips
 * in == out). An elementwise op (Activation, BatchNorm, equal-shape Add/Sub/Mul/Div/Max/Min, SqueezeExcite) writes
 * over the input it reads at the same index when that input's buffer is read by nobody after it. Only dense values
 * outside views are aliased, and graph inputs/outputs stay pinned in the caller's buffers.
 *
 * The lower bound is computed on the final buffers: the most bytes live at one step. */
typedef struct {
    int64_t arena_bytes;      /* the arena */
    int64_t sum_bytes;        /* every planned activation in its own buffer */
    int64_t lower_bound;      /* most bytes of (final) buffers live at one step: no placement can use less */
    int32_t n_buffers;        /* buffers placed */
    int32_t concats_in_place, concat_copies; /* Concat nodes whose inputs are views / that still copy */
    int32_t slices_in_place, slice_copies;
    int32_t in_place;         /* values sharing their input's bytes (reshape aliases, elementwise in place) */
} kiln_plan_stats;

/* value_offset[v] and value_pitch[v] (g->n_values entries each) are written; offsets of views are multiples of 4
 * (buffer starts are multiples of KILN_PLAN_ALIGN). */
kiln_status kiln_plan_memory_full(const kiln_graph *g, int batch, int eliminate_concat, int in_place,
                                  int64_t *value_offset, int64_t *value_pitch, kiln_plan_stats *stats);
/* The same for an engine whose layers run in band groups (src/runtime/bands.c: layers first..last run interleaved,
 * a band of rows at a time): band_first[i] / band_last[i] (g->n_nodes entries each) are the first and last layer of
 * layer i's group (both i when it runs alone). Every value a grouped layer reads or writes is then live over its
 * whole group, and grouped layers never write in place. NULL arrays: no groups (kiln_plan_memory_full).
 * res_in_place (g->n_nodes entries, or NULL: none): 1 where layer i's kernel may write its output over its residual
 * input (input 3 of a fused conv: the CPU gemm kernels, which then start from the residual as their partial sums);
 * with in_place, such a layer takes its residual's buffer when nothing reads that buffer after it (ResNet's
 * 56x56x256 block outputs: one 3.2 MB buffer read and written back instead of a second one written). */
kiln_status kiln_plan_memory_groups(const kiln_graph *g, int batch, int eliminate_concat, int in_place,
                                    const int32_t *band_first, const int32_t *band_last, const uint8_t *res_in_place,
                                    int64_t *value_offset, int64_t *value_pitch, kiln_plan_stats *stats);
/* Ops whose kernels honour kiln_kernel_args.in_pitch[slot] / out_pitch (src/cpu/kernel.h). */
int kiln_plan_op_reads_pitch(int op, int slot);
int kiln_plan_op_writes_pitch(int op);
/* Bytes a value spans at `batch` with row pitch `pitch` floats (0 = dense): what must lie inside the arena. */
int64_t kiln_plan_span_bytes(const kiln_value *v, int batch, int64_t pitch);

/* Plan g for `batch` samples, without views or in-place (every value its own buffer): value_offset[v] (g->n_values entries) = the arena offset of each planned activation,
 * -1 for graph inputs, graph outputs and constants. *arena_bytes = the arena size; *sum_bytes (may be NULL) = the
 * total of every planned activation, i.e. what a planner-less runtime would allocate. */
kiln_status kiln_plan_memory(const kiln_graph *g, int batch, int64_t *value_offset, int64_t *arena_bytes,
                             int64_t *sum_bytes);

#endif
