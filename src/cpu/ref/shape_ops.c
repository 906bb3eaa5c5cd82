/* Reference data-movement ops: copy (reshape, identity), transpose, pad, concat. */
#include <string.h>

#include "ref_util.h"

/* Reshape and identity: row-major data is unchanged, only the shape differs. */
void kiln_ref_copy(const kiln_kernel_args *a)
{
    if (a->out != a->in[0]) /* the memory planner makes a reshape's output the same buffer as its input */
        memcpy(a->out, a->in[0], sizeof(float) * (size_t)ref_count(a, ref_out(a)));
    ref_epilogue(a);
}

/* y[i_0, ..., i_{r-1}] = x[j] with j[perm[k]] = i_k: output axis k is input axis perm[k]. */
void kiln_ref_transpose(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0);
    const int r = xv->rank;
    const int32_t *perm = a->node->attrs.perm;
    int64_t xd[KILN_MAX_RANK], xs[KILN_MAX_RANK], od[KILN_MAX_RANK], step[KILN_MAX_RANK], idx[KILN_MAX_RANK] = { 0 };
    ref_dims(a, xv, xd);
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        xs[i] = s;
        s *= xd[i];
    }
    for (int k = 0; k < r; k++) {
        od[k] = xd[perm[k]];
        step[k] = xs[perm[k]];
    }
    const int64_t n = ref_prod(od, 0, r);
    int64_t ix = 0;
    for (int64_t o = 0; o < n; o++) {
        a->out[o] = a->in[0][ix];
        for (int d = r - 1; d >= 0; d--) {
            ix += step[d];
            if (++idx[d] < od[d]) break;
            ix -= step[d] * od[d];
            idx[d] = 0;
        }
    }
    ref_epilogue(a);
}

/* y has dims[i] + pads_begin[i] + pads_end[i] on every axis; cells outside x hold attrs.pad_value. */
void kiln_ref_pad(const kiln_kernel_args *a)
{
    const kiln_attrs *at = &a->node->attrs;
    const kiln_value *xv = ref_in(a, 0);
    const int r = xv->rank;
    int64_t xd[KILN_MAX_RANK], od[KILN_MAX_RANK], idx[KILN_MAX_RANK] = { 0 };
    ref_dims(a, xv, xd);
    ref_dims(a, ref_out(a), od);
    const int64_t n = ref_prod(od, 0, r);

    for (int64_t o = 0; o < n; o++) {
        /* Map the output index back to the input; any axis outside it makes this a padding cell. */
        int64_t ix = 0;
        int inside = 1;
        for (int d = 0; d < r && inside; d++) {
            const int64_t j = idx[d] - at->pads_begin[d];
            inside = j >= 0 && j < xd[d];
            ix = ix * xd[d] + j;
        }
        a->out[o] = inside ? a->in[0][ix] : at->pad_value;
        ref_next_index(idx, od, r);
    }
    ref_epilogue(a);
}

/* Inputs laid side by side along attrs.axis: for each index of the axes before it, each input contributes one
 * contiguous block of dims[axis] * (product of the axes after it) floats, in input order. A constant input holds one
 * sample, which every sample of the batch reuses. */
void kiln_ref_concat(const kiln_kernel_args *a)
{
    if (kiln_ref_concat_pitched(a)) return; /* channel concat with planner views: src/cpu/ref/slice.c */
    const int axis = a->node->attrs.axis;
    int64_t od[KILN_MAX_RANK];
    const kiln_value *yv = ref_out(a);
    ref_dims(a, yv, od);
    const int64_t outer = ref_prod(od, 0, axis), inner = ref_prod(od, axis + 1, yv->rank);
    const int64_t per_sample = a->batch > 0 ? outer / a->batch : 1; /* blocks of one sample before the axis */
    float *y = a->out;

    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < a->node->n_inputs; i++) {
            const kiln_value *v = ref_in(a, i);
            const int64_t block = v->dims[axis] * inner;
            const int64_t src = v->kind == KILN_VALUE_CONSTANT ? o % per_sample : o;
            memcpy(y, a->in[i] + src * block, sizeof(float) * (size_t)block);
            y += block;
        }
    ref_epilogue(a);
}
