/* Conv, MaxPool/AveragePool, GlobalAverage/MaxPool, BatchNormalization: NCHW in ONNX, NHWC in kiln (the input is
 * brought to channels-last physical order, which is free for PyTorch tensors since they are stored NHWC already). */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* The input as NHWC: logical NCHW with channels last physically. */
static kiln_status nhwc_input(ox_ctx *c, const ox_val **x, int *vid)
{
    kiln_status st = ox_act_in(c, 0, x);
    if (st) return st;
    int r = ox_rank(c, *x);
    if (r != 4) return ox_fail(c, KILN_ERR_UNSUPPORTED, "input has rank %d; kiln supports the 2-D case (4-D NCHW)", r);
    int cl[4];
    ox_channels_last(cl, 4);
    return ox_to_perm(c, *x, cl, vid);
}

/* strides, dilations, pads / auto_pad of a 2-D window op, ONNX order [top, left, bottom, right] as kiln's. */
static kiln_status window(ox_ctx *c, const ox_val *x, kiln_attrs *a)
{
    const Onnx__NodeProto *n = c->node;
    int64_t v[8];
    if (ox_attr_ints(n, "strides", v, 8) == 2) a->stride[0] = (int)v[0], a->stride[1] = (int)v[1];
    if (ox_attr_ints(n, "dilations", v, 8) == 2) a->dilation[0] = (int)v[0], a->dilation[1] = (int)v[1];
    int np = ox_attr_ints(n, "pads", v, 8);
    if (np == 4)
        for (int i = 0; i < 4; i++) a->pads[i] = (int)v[i];
    else if (np >= 0)
        return ox_fail(c, KILN_ERR_FORMAT, "pads has %d values, expected 4", np);
    char buf[32];
    const char *ap = ox_attr_s(n, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int i = 0; i < 4; i++)
        if (a->pads[i] < 0) return ox_fail(c, KILN_ERR_UNSUPPORTED, "negative pads");
    if (a->stride[0] < 1 || a->stride[1] < 1 || a->dilation[0] < 1 || a->dilation[1] < 1)
        return ox_fail(c, KILN_ERR_FORMAT, "strides and dilations must be >= 1");
    if (!strcmp(ap, "VALID")) {
        memset(a->pads, 0, sizeof a->pads);
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        for (int i = 0; i < 2; i++) {
            int64_t in = ox_dim(c, x, 2 + i), s = a->stride[i], out = (in + s - 1) / s;
            int64_t eff = (int64_t)a->dilation[i] * (a->kernel[i] - 1) + 1, total = (out - 1) * s + eff - in;
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - small;
            a->pads[i] = (int)(ap[5] == 'U' ? small : big);
            a->pads[2 + i] = (int)(ap[5] == 'U' ? big : small);
        }
    } else if (strcmp(ap, "NOTSET")) {
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "auto_pad '%s'", ap);
    }
    return KILN_OK;
}

kiln_status ox_op_conv(ox_ctx *c)
{
    const ox_val *x, *w, *b = NULL;
    int xin, ids[3];
    kiln_status st = nhwc_input(c, &x, &xin);
    if (st || (st = ox_const_in(c, 1, "weights", &w))) return st;
    if (ox_has_in(c, 2) && (st = ox_const_in(c, 2, "bias", &b))) return st;
    if (w->rank != 4) return ox_fail(c, KILN_ERR_UNSUPPORTED, "weights of rank %d (kiln: 2-D convolution)", w->rank);
    kiln_attrs a;
    kiln_attrs_init(&a);
    int64_t co = w->dims[0], cg = w->dims[1], kh = w->dims[2], kw = w->dims[3];
    a.kernel[0] = (int)kh;
    a.kernel[1] = (int)kw;
    a.groups = (int)ox_attr_i(c->node, "group", 1);
    if ((st = window(c, x, &a))) return st;
    /* OIHW -> [KH, KW, Cin/groups, Cout] */
    float *src = ox_const_floats(w), *dst = malloc(sizeof(float) * (size_t)(w->numel ? w->numel : 1));
    if (!src || !dst) {
        free(src);
        free(dst);
        return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    }
    for (int64_t o = 0; o < co; o++)
        for (int64_t i = 0; i < cg; i++)
            for (int64_t y = 0; y < kh; y++)
                for (int64_t z = 0; z < kw; z++) dst[((y * kw + z) * cg + i) * co + o] = src[((o * cg + i) * kh + y) * kw + z];
    free(src);
    int64_t kd[4] = { kh, kw, cg, co };
    ids[0] = xin;
    st = ox_kconst(c, "kernel", 4, kd, dst, &ids[1]);
    free(dst);
    if (st) return st;
    int n_in = 2;
    if (b) {
        float *bd = ox_const_floats(b);
        if (!bd) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        st = ox_kconst(c, "bias", 1, &b->numel, bd, &ids[2]);
        free(bd);
        if (st) return st;
        n_in = 3;
    }
    int vid, cl[4];
    if ((st = ox_emit(c, KILN_OP_CONV2D, "", ids, n_in, &a, &vid))) return st;
    ox_channels_last(cl, 4);
    return ox_set_act(c, 0, vid, cl);
}

kiln_status ox_op_pool(ox_ctx *c)
{
    const ox_val *x;
    int xin, vid, cl[4];
    kiln_status st = nhwc_input(c, &x, &xin);
    if (st) return st;
    int avg = c->node->op_type[0] == 'A';
    kiln_attrs a;
    kiln_attrs_init(&a);
    int64_t k[8];
    if (ox_attr_ints(c->node, "kernel_shape", k, 8) != 2) return ox_fail(c, KILN_ERR_FORMAT, "kernel_shape needs 2 values");
    a.kernel[0] = (int)k[0];
    a.kernel[1] = (int)k[1];
    if ((st = window(c, x, &a))) return st;
    a.dilation[0] = a.dilation[1] = 1;
    a.count_include_pad = avg ? (int)ox_attr_i(c->node, "count_include_pad", 0) : 0;
    if (ox_attr_i(c->node, "ceil_mode", 0)) {
        /* Output size rounded up; a last window must start inside the input or the left padding (PyTorch, ONNX
         * Runtime). kiln rounds down, so the overhang becomes extra end padding, which a max never picks. */
        for (int i = 0; i < 2; i++) {
            int64_t in = ox_dim(c, x, 2 + i), s = a.stride[i], span = in + a.pads[i] + a.pads[2 + i] - a.kernel[i];
            if (span < 0) continue;
            int64_t fl = span / s + 1, ce = (span + s - 1) / s + 1;
            if (ce > fl && (ce - 1) * s >= in + a.pads[i]) ce--;
            if (ce > fl) {
                if (avg && a.count_include_pad)
                    return ox_fail(c, KILN_ERR_UNSUPPORTED, "ceil_mode=1 with count_include_pad=1 and a window "
                                   "hanging past the padding (ONNX does not count the overhang; kiln would)");
                a.pads[2 + i] += (int)((ce - 1) * s + a.kernel[i] - (in + a.pads[i] + a.pads[2 + i]));
            }
        }
    }
    if ((st = ox_emit(c, avg ? KILN_OP_AVGPOOL : KILN_OP_MAXPOOL, "", &xin, 1, &a, &vid))) return st;
    ox_channels_last(cl, 4);
    return ox_set_act(c, 0, vid, cl);
}

kiln_status ox_op_global_pool(ox_ctx *c)
{
    const ox_val *x;
    int xin, vid, cl[4];
    kiln_status st = nhwc_input(c, &x, &xin);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.keepdims = 1;
    int avg = !strcmp(c->node->op_type, "GlobalAveragePool");
    if ((st = ox_emit(c, avg ? KILN_OP_GLOBAL_AVGPOOL : KILN_OP_GLOBAL_MAXPOOL, "", &xin, 1, &a, &vid))) return st;
    ox_channels_last(cl, 4);
    return ox_set_act(c, 0, vid, cl);
}

kiln_status ox_op_batchnorm(ox_ctx *c)
{
    const ox_val *x, *p[4];
    static const char *const what[4] = { "scale", "bias", "mean", "var" };
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int r = ox_rank(c, x), ids[5], cl[KILN_MAX_RANK], vid;
    if (r < 2) return ox_fail(c, KILN_ERR_UNSUPPORTED, "input of rank %d (needs [N, C, ...])", r);
    int64_t ch = ox_dim(c, x, 1);
    for (int i = 0; i < 4; i++) {
        if ((st = ox_const_in(c, 1 + i, what[i], &p[i]))) return st;
        if (p[i]->numel != ch) return ox_fail(c, KILN_ERR_FORMAT, "%s has %lld values for %lld channels", what[i],
                                              (long long)p[i]->numel, (long long)ch);
    }
    ox_channels_last(cl, r);
    if ((st = ox_to_perm(c, x, cl, &ids[0]))) return st;
    for (int i = 0; i < 4; i++) {
        float *d = ox_const_floats(p[i]);
        if (!d) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        st = ox_kconst(c, what[i], 1, &ch, d, &ids[1 + i]);
        free(d);
        if (st) return st;
    }
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.eps = ox_attr_f(c->node, "epsilon", 1e-5f);
    if ((st = ox_emit(c, KILN_OP_BATCHNORM, "", ids, 5, &a, &vid))) return st;
    return ox_set_act(c, 0, vid, cl);
}
