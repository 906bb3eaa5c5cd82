/* Shape inference of the ops the Keras importer adds for keras.applications and Keras layers beyond the first
 * core set: LAYERNORM (LayerNormalization), CROP (Cropping1D/2D/3D), RESIZE (UpSampling2D). */
#include "infer.h"
#include "resize.h"
#include "status.h"

static int fail(const kiln_node *n, const char *why)
{
    kiln_diag_add("layer '%s' (%s): %s", n->name, kiln_op_name((kiln_op)n->op), why);
    return -1;
}

static void copy_shape(const kiln_value *v, int *rank, int64_t *dims)
{
    *rank = v->rank;
    for (int i = 0; i < v->rank; i++) dims[i] = v->dims[i];
}

int kiln_infer_layernorm(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = &g->values[n->inputs[0]];
    if (x->rank < 2) return fail(n, "input must have at least 2 dimensions");
    const int64_t c = x->dims[x->rank - 1];
    for (int i = 1; i < 3; i++)
        if (kiln_value_numel(&g->values[n->inputs[i]]) != c) return fail(n, "gamma/beta size differs from the last axis");
    copy_shape(x, rank, dims);
    return 0;
}

int kiln_infer_crop(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = &g->values[n->inputs[0]];
    copy_shape(x, rank, dims);
    if (n->attrs.pads_begin[0] || n->attrs.pads_end[0]) return fail(n, "cannot crop the batch axis");
    for (int i = 1; i < x->rank; i++) {
        const int64_t b = n->attrs.pads_begin[i], e = n->attrs.pads_end[i];
        if (b < 0 || e < 0) return fail(n, "negative cropping");
        if (b + e > x->dims[i]) return fail(n, "cropping more than the axis holds");
        dims[i] -= b + e;
    }
    return 0;
}

int kiln_infer_resize(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = &g->values[n->inputs[0]];
    if (x->rank != 4) return fail(n, "input must be 4-D NHWC");
    if (n->attrs.shape[0] < 1 || n->attrs.shape[1] < 1) return fail(n, "output size must be positive");
    kiln_resize_params p;
    kiln_resize_params_load(&n->attrs, &p);
    if (p.interp < KILN_RESIZE_NEAREST || p.interp > KILN_RESIZE_CUBIC)
        return fail(n, "mode must be 0 (nearest), 1 (linear) or 2 (cubic)");
    if (p.coord < 0 || p.coord >= KILN_RESIZE_COORD_COUNT) return fail(n, "unknown coordinate transformation");
    if (p.round < 0 || p.round >= KILN_RESIZE_ROUND_COUNT) return fail(n, "unknown nearest rounding");
    if (n->n_inputs > 1 && (g->values[n->inputs[1]].kind != KILN_VALUE_CONSTANT ||
                            kiln_value_numel(&g->values[n->inputs[1]]) != 4))
        return fail(n, "the roi input must be a constant of 4 values");
    copy_shape(x, rank, dims);
    dims[1] = n->attrs.shape[0];
    dims[2] = n->attrs.shape[1];
    return 0;
}
