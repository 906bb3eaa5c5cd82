/* Conv, MaxPool/AveragePool, GlobalAverage/MaxPool, BatchNormalization: NCHW in ONNX, NHWC in kiln (the input is
 * brought to channels-last physical order, which is free for PyTorch tensors since they are stored NHWC already).
 * The 1-D forms (NCL) run as 2-D ops on [N, 1, L, C]. */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* The input as NHWC: logical NCHW with channels last physically. A 1-D op's [N, C, L] runs as 2-D [N, 1, L, C]
 * (*sd = 1 spatial axis; its output is reshaped back by finish()). */
static kiln_status nhwc_input(ox_ctx *c, const ox_val **x, int *vid, int *sd)
{
    kiln_status st = ox_act_in(c, 0, x);
    if (st) return st;
    int r = ox_rank(c, *x);
    if (r != 4 && r != 3)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "input has rank %d; kiln supports the 1-D and 2-D cases (3-D NCL, "
                       "4-D NCHW)", r);
    *sd = r - 2;
    int cl[4];
    ox_channels_last(cl, r);
    if ((st = ox_to_perm(c, *x, cl, vid)) || r == 4) return st;
    const int64_t *d = c->g->values[*vid].dims, d4[4] = { d[0], 1, d[1], d[2] };
    return ox_reshape_phys(c, *vid, 4, d4, "as_2d", vid);
}

/* Bind output 0 to the NHWC result vid: NCHW stored channels last, or, for a 1-D op, [N, 1, L, C] -> NCL. */
static kiln_status finish(ox_ctx *c, int vid, int sd)
{
    int cl[4];
    ox_channels_last(cl, sd + 2);
    if (sd == 2) return ox_set_act(c, 0, vid, cl);
    const int64_t *d = c->g->values[vid].dims, d3[3] = { d[0], d[2], d[3] };
    int out;
    kiln_status st = ox_reshape_phys(c, vid, 3, d3, "as_1d", &out);
    return st ? st : ox_set_act(c, 0, out, cl);
}

/* An ints attribute of a window op with sd spatial values (or 2*sd for pads) into kiln's 2-D slots (1-D: the W slot,
 * H getting `fill`). Returns the count found (-1 absent). */
static int window_ints(const Onnx__NodeProto *n, const char *name, int sd, int32_t *dst, int fill)
{
    int64_t v[8];
    int nv = ox_attr_ints(n, name, v, 8);
    if (nv < 0) return -1;
    const int per = !strcmp(name, "pads") ? 2 : 1;
    if (nv != per * sd) return nv;
    for (int k = 0; k < per; k++) { /* pads: [begins..., ends...] */
        if (sd == 2) dst[2 * k] = (int32_t)v[2 * k], dst[2 * k + 1] = (int32_t)v[2 * k + 1];
        else dst[2 * k] = fill, dst[2 * k + 1] = (int32_t)v[k];
    }
    return nv;
}

/* kernel_shape (when kernel_attr), strides, dilations, pads / auto_pad of a window op with sd spatial axes, ONNX
 * pads order [begins, ends] as kiln's [top, left, bottom, right]. xin: the 4-D NHWC input. */
static kiln_status window(ox_ctx *c, int xin, int sd, int kernel_attr, kiln_attrs *a)
{
    const Onnx__NodeProto *n = c->node;
    if (kernel_attr && window_ints(n, "kernel_shape", sd, a->kernel, 1) != sd)
        return ox_fail(c, KILN_ERR_FORMAT, "kernel_shape needs %d values", sd);
    int nv;
    if ((nv = window_ints(n, "strides", sd, a->stride, 1)) >= 0 && nv != sd)
        return ox_fail(c, KILN_ERR_FORMAT, "strides has %d values, expected %d", nv, sd);
    if ((nv = window_ints(n, "dilations", sd, a->dilation, 1)) >= 0 && nv != sd)
        return ox_fail(c, KILN_ERR_FORMAT, "dilations has %d values, expected %d", nv, sd);
    if ((nv = window_ints(n, "pads", sd, a->pads, 0)) >= 0 && nv != 2 * sd)
        return ox_fail(c, KILN_ERR_FORMAT, "pads has %d values, expected %d", nv, 2 * sd);
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
            int64_t in = c->g->values[xin].dims[1 + i], s = a->stride[i], out = (in + s - 1) / s;
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
    int xin, ids[3], sd;
    kiln_status st = nhwc_input(c, &x, &xin, &sd);
    if (st || (st = ox_const_in(c, 1, "weights", &w))) return st;
    if (ox_has_in(c, 2) && (st = ox_const_in(c, 2, "bias", &b))) return st;
    if (w->rank != sd + 2)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "weights of rank %d for a %d-D input", w->rank, sd + 2);
    kiln_attrs a;
    kiln_attrs_init(&a);
    int64_t co = w->dims[0], cg = w->dims[1], kh = sd == 2 ? w->dims[2] : 1, kw = w->dims[sd + 1];
    a.kernel[0] = (int)kh;
    a.kernel[1] = (int)kw;
    a.groups = (int)ox_attr_i(c->node, "group", 1);
    if ((st = window(c, xin, sd, 0, &a))) return st;
    /* OIHW (OIL: H = 1) -> [KH, KW, Cin/groups, Cout] */
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
    int vid;
    if ((st = ox_emit(c, KILN_OP_CONV2D, "", ids, n_in, &a, &vid))) return st;
    return finish(c, vid, sd);
}

kiln_status ox_op_pool(ox_ctx *c)
{
    const ox_val *x;
    int xin, vid, sd;
    kiln_status st = nhwc_input(c, &x, &xin, &sd);
    if (st) return st;
    int avg = c->node->op_type[0] == 'A';
    kiln_attrs a;
    kiln_attrs_init(&a);
    if ((st = window(c, xin, sd, 1, &a))) return st;
    a.count_include_pad = avg ? (int)ox_attr_i(c->node, "count_include_pad", 0) : 0;
    if (ox_attr_i(c->node, "ceil_mode", 0)) {
        /* Output size rounded up; a last window must start inside the input or the left padding (PyTorch, ONNX
         * Runtime). kiln rounds down, so the overhang becomes extra end padding, which a max never picks. */
        for (int i = 0; i < 2; i++) {
            const int64_t eff = (int64_t)a.dilation[i] * (a.kernel[i] - 1) + 1;
            int64_t in = c->g->values[xin].dims[1 + i], s = a.stride[i], span = in + a.pads[i] + a.pads[2 + i] - eff;
            if (span < 0) continue;
            int64_t fl = span / s + 1, ce = (span + s - 1) / s + 1;
            if (ce > fl && (ce - 1) * s >= in + a.pads[i]) ce--;
            if (ce > fl) {
                if (avg && a.count_include_pad)
                    return ox_fail(c, KILN_ERR_UNSUPPORTED, "ceil_mode=1 with count_include_pad=1 and a window "
                                   "hanging past the padding (ONNX does not count the overhang; kiln would)");
                a.pads[2 + i] += (int)((ce - 1) * s + eff - (in + a.pads[i] + a.pads[2 + i]));
            }
        }
    }
    if ((st = ox_emit(c, avg ? KILN_OP_AVGPOOL : KILN_OP_MAXPOOL, "", &xin, 1, &a, &vid))) return st;
    return finish(c, vid, sd);
}

kiln_status ox_op_global_pool(ox_ctx *c)
{
    const ox_val *x;
    int xin, vid, sd;
    kiln_status st = nhwc_input(c, &x, &xin, &sd);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.keepdims = 1;
    int avg = !strcmp(c->node->op_type, "GlobalAveragePool");
    if ((st = ox_emit(c, avg ? KILN_OP_GLOBAL_AVGPOOL : KILN_OP_GLOBAL_MAXPOOL, "", &xin, 1, &a, &vid))) return st;
    return finish(c, vid, sd);
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
