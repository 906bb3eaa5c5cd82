/* Memory planner: every intermediate activation gets a byte offset in ONE arena, sized for the engine's batch_max.
 *
 * Liveness: nodes run in their (topological) array order, one step each. A value is live from the step of the node
 * that produces it to the step of its last reader, both included (so an output never shares bytes with an input of
 * the same node: kernels do not work in place). Graph inputs and outputs live in the caller's buffers and constants
 * in the weights block, so only the other activations are planned.
 *
 * Placement is best-fit "greedy by size": buffers are placed largest first, each into the smallest gap between
 * already-placed buffers whose lifetimes overlap its own (else above the highest of them). Sizes and offsets are
 * multiples of 64 bytes. */
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

/* Plan g for `batch` samples: value_offset[v] (g->n_values entries) = the arena offset of each planned activation,
 * -1 for graph inputs, graph outputs and constants. *arena_bytes = the arena size; *sum_bytes (may be NULL) = the
 * total of every planned activation, i.e. what a planner-less runtime would allocate. */
kiln_status kiln_plan_memory(const kiln_graph *g, int batch, int64_t *value_offset, int64_t *arena_bytes,
                             int64_t *sum_bytes);

#endif
