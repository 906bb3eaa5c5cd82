/* Helpers shared by the reference kernels (private to src/cpu/ref/).
 *
 * Batch rule: an activation value's dims[0] in the graph is a placeholder; the kernel's `batch` is the real count.
 * A constant's dims are literal. Every helper here states which of the two it assumes. */
#ifndef KILN_CPU_REF_UTIL_H
#define KILN_CPU_REF_UTIL_H

#include <stdint.h>

#include "../../core/act.h"
#include "../kernel.h"

/* Value feeding input i / the output value of the node. */
static inline const kiln_value *ref_in(const kiln_kernel_args *a, int i) { return &a->g->values[a->node->inputs[i]]; }
static inline const kiln_value *ref_out(const kiln_kernel_args *a) { return &a->g->values[a->node->output]; }

/* Dims of a value as the kernel sees them: activations get dims[0] = batch, constants keep theirs. */
static inline void ref_dims(const kiln_kernel_args *a, const kiln_value *v, int64_t *dims)
{
    for (int i = 0; i < v->rank; i++) dims[i] = v->dims[i];
    if (v->kind == KILN_VALUE_ACTIVATION && v->rank > 0) dims[0] = a->batch;
}

/* Product of dims[from..to). */
static inline int64_t ref_prod(const int64_t *dims, int from, int to)
{
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= dims[i];
    return n;
}

/* Steps the row-major multi-index idx[0..r) to the next cell of a dims-shaped array (the last axis fastest); after the
 * last cell it wraps to all zeros. */
static inline void ref_next_index(int64_t *idx, const int64_t *dims, int r)
{
    for (int d = r - 1; d >= 0; d--) {
        if (++idx[d] < dims[d]) return;
        idx[d] = 0;
    }
}

/* Total floats of a value for this run (activations: batch samples). */
static inline int64_t ref_count(const kiln_kernel_args *a, const kiln_value *v)
{
    int64_t dims[KILN_MAX_RANK];
    ref_dims(a, v, dims);
    return ref_prod(dims, 0, v->rank);
}

/* The fused activation epilogue: every op applies attrs.act to its whole output, in place, as the last step, so the
 * optimizer may fuse an activation into any producer and get the same numbers. */
static inline void ref_epilogue(const kiln_kernel_args *a)
{
    const kiln_act *act = &a->node->attrs.act;
    if (act->kind == KILN_ACT_NONE) return;
    int64_t n = ref_count(a, ref_out(a));
    for (int64_t i = 0; i < n; i++) a->out[i] = kiln_act_apply(act, a->out[i]);
}

/* Channel concat when the memory planner gave any operand a row pitch (src/cpu/ref/slice.c): copies each input into
 * its channel range unless it already lies there (a view: nothing to copy). Returns 0, doing nothing, when every
 * operand is dense, so kiln_ref_concat runs its general path. */
int kiln_ref_concat_pitched(const kiln_kernel_args *a);

#endif
