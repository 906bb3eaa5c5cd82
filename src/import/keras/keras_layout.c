/* channels_first layers. kiln's spatial ops are NHWC; a Keras layer with data_format "channels_first" (or a
 * BatchNormalization over axis 1 of a 4-D tensor) becomes Transpose(NCHW -> NHWC) -> the NHWC op(s) ->
 * Transpose(NHWC -> NCHW), so the tensors between layers keep exactly Keras's layout and every layer in between
 * (Concatenate over axis 1, Dense over the last axis, Flatten...) needs no change. */
#include <string.h>

#include "keras_internal.h"

static const char *const wrappable[] = {
    "Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D", "MaxPooling2D",
    "MaxPool2D", "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D",
    "GlobalMaxPool2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D", NULL,
};

int kk_layout_wrappable(const char *class_name)
{
    for (int i = 0; wrappable[i]; i++)
        if (!strcmp(wrappable[i], class_name)) return 1;
    return 0;
}

static int is_channels_first(const kk_ctx *c, const kk_layer *L, const int *in, int n_in)
{
    if (n_in != 1 || c->g->values[in[0]].rank != 4) return 0;
    const char *fmt = kk_str(L->cfg, "data_format");
    if (fmt && !strcmp(fmt, "channels_first")) return kk_layout_wrappable(L->class_name);
    if (!strcmp(L->class_name, "BatchNormalization")) {
        int axis;
        return kk_ints(L->cfg, "axis", 1, -1, &axis) == 0 && axis == 1;
    }
    return 0;
}

static kiln_status transpose(kk_ctx *c, const kk_layer *L, const char *name, int in, const int perm[4], int *out)
{
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 4;
    for (int i = 0; i < 4; i++) a.perm[i] = perm[i];
    return kk_add(c, L, KILN_OP_TRANSPOSE, name, &in, 1, &a, out);
}

kiln_status kk_convert_layout(kk_ctx *c, kk_layer *L, kk_convert_fn conv, const int *in, int n_in, int *out)
{
    if (!is_channels_first(c, L, in, n_in)) return conv(c, L, in, n_in, out);
    static const int to_nhwc[4] = { 0, 2, 3, 1 }, to_nchw[4] = { 0, 3, 1, 2 };
    char final_name[sizeof L->node_name], buf[sizeof L->node_name + 16];
    memcpy(final_name, L->node_name, sizeof final_name);
    int x, y;
    snprintf(buf, sizeof buf, "%s/to_nhwc", final_name);
    kiln_status st = transpose(c, L, buf, in[0], to_nhwc, &x);
    if (st) return st;
    /* The layer's own node(s) get "<name>/nhwc..." names; the transpose back carries the layer's name. */
    if (snprintf(L->node_name, sizeof L->node_name, "%s/nhwc", final_name) >= (int)sizeof L->node_name)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "layer '%s': name too long", final_name);
    /* BatchNormalization and data_format layers read the last axis once the input is NHWC. */
    L->nhwc_wrapped = 1;
    st = conv(c, L, &x, 1, &y);
    L->nhwc_wrapped = 0;
    memcpy(L->node_name, final_name, sizeof final_name);
    if (st) return st;
    if (c->g->values[y].rank != 4) { /* global pooling without keepdims: [N, C] is the same in both layouts */
        *out = y;
        return KILN_OK;
    }
    return transpose(c, L, final_name, y, to_nchw, out);
}
