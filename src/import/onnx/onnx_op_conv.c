/* Conv, MaxPool/AveragePool, GlobalAverage/MaxPool, BatchNormalization: NCHW in ONNX, NHWC in kiln (the input is
 * brought to channels-last physical order, which is free for PyTorch tensors since they are stored NHWC already).
 * The 1-D forms (NCL) run as 2-D ops on [N, 1, L, C]. */
#include <stdlib.h>
#include <string.h>

#include "../../core/act.h"
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
    ox_channels_last_batched(cl, r);
    if ((st = ox_to_batched(c, *x, cl, vid)) || r == 4) return st;
    const int64_t *d = c->g->values[*vid].dims, d4[4] = { d[0], 1, d[1], d[2] };
    return ox_reshape_phys(c, *vid, 4, d4, "as_2d", vid);
}

/* Bind output 0 to the NHWC result vid: NCHW stored channels last, or, for a 1-D op, [N, 1, L, C] -> NCL. */
static kiln_status finish(ox_ctx *c, int vid, int sd)
{
    int cl[4];
    ox_channels_last_batched(cl, sd + 2);
    if (sd == 2) return ox_set_batched(c, 0, vid, cl);
    const int64_t *d = c->g->values[vid].dims, d3[3] = { d[0], d[2], d[3] };
    int out;
    kiln_status st = ox_reshape_phys(c, vid, 3, d3, "as_1d", &out);
    return st ? st : ox_set_batched(c, 0, out, cl);
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

/* ceil_mode: the output size rounded up; a last window must start inside the input or the left padding (PyTorch,
 * ONNX Runtime). kiln rounds down, so the overhang becomes extra end padding *p1, which a max never picks and an
 * average with count_include_pad=0 does not count. Returns 0, or -1 when count_include_pad=1 would count it. */
static int ceil_pads(int64_t in, int k, int s, int d, int p0, int32_t *p1, int avg_cip)
{
    const int64_t eff = (int64_t)d * (k - 1) + 1, span = in + p0 + *p1 - eff;
    if (span < 0) return 0;
    int64_t fl = span / s + 1, ce = (span + s - 1) / s + 1;
    if (ce > fl && (ce - 1) * s >= in + p0) ce--;
    if (ce <= fl) return 0;
    if (avg_cip) return -1;
    *p1 += (int32_t)((ce - 1) * s + eff - (in + p0 + *p1));
    return 0;
}

/* 3-D MaxPool / AveragePool of NCDHW by kiln's 2-D pooling: both are separable (max over a box = max over D of the
 * max over H, W; the average with pads excluded divides by the product of the per-axis in-bounds counts, with pads
 * included by kd * kh * kw). Stored [N, H, W, D*C] the H, W pass runs with D folded into the channels; then
 * [N, D, H'W', C] pooled with a (kd, 1) window; the result is NCDHW stored channels last. */
static kiln_status pool3d(ox_ctx *c, const ox_val *x)
{
    const Onnx__NodeProto *n = c->node;
    const int avg = n->op_type[0] == 'A';
    int64_t k[3], s[3] = { 1, 1, 1 }, d[3] = { 1, 1, 1 }, p[6] = { 0 }, in[3];
    if (ox_attr_ints(n, "kernel_shape", k, 3) != 3) return ox_fail(c, KILN_ERR_FORMAT, "kernel_shape needs 3 values");
    int nv;
    if ((nv = ox_attr_ints(n, "strides", s, 3)) >= 0 && nv != 3) return ox_fail(c, KILN_ERR_FORMAT, "strides");
    if ((nv = ox_attr_ints(n, "dilations", d, 3)) >= 0 && nv != 3) return ox_fail(c, KILN_ERR_FORMAT, "dilations");
    if ((nv = ox_attr_ints(n, "pads", p, 6)) >= 0 && nv != 6) return ox_fail(c, KILN_ERR_FORMAT, "pads");
    for (int i = 0; i < 3; i++) {
        in[i] = ox_dim(c, x, 2 + i);
        if (k[i] < 1 || s[i] < 1 || d[i] < 1 || p[i] < 0 || p[3 + i] < 0)
            return ox_fail(c, KILN_ERR_FORMAT, "kernel, strides and dilations must be >= 1, pads >= 0");
    }
    char buf[32];
    const char *ap = ox_attr_s(n, "auto_pad", "NOTSET", buf, sizeof buf);
    if (!strcmp(ap, "VALID")) {
        memset(p, 0, sizeof p);
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        for (int i = 0; i < 3; i++) {
            const int64_t out = (in[i] + s[i] - 1) / s[i], eff = d[i] * (k[i] - 1) + 1;
            int64_t total = (out - 1) * s[i] + eff - in[i];
            if (total < 0) total = 0;
            p[i] = ap[5] == 'U' ? total / 2 : total - total / 2;
            p[3 + i] = total - p[i];
        }
    } else if (strcmp(ap, "NOTSET")) {
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "auto_pad '%s'", ap);
    }
    /* count_include_pad=1: the pads are added as zeros by a PAD, so that they count as in-bounds cells of an average
     * that excludes padding; a ceil_mode overhang past them is then kiln padding, not counted (as in ONNX). */
    const int cip = avg ? (int)ox_attr_i(n, "count_include_pad", 0) : 0;
    int32_t end[3];
    for (int i = 0; i < 3; i++) {
        if (cip) in[i] += p[i] + p[3 + i];
        end[i] = cip ? 0 : (int32_t)p[3 + i];
    }
    if (ox_attr_i(n, "ceil_mode", 0))
        for (int i = 0; i < 3; i++)
            ceil_pads(in[i], (int)k[i], (int)s[i], (int)d[i], cip ? 0 : (int)p[i], &end[i], 0);
    const int t_hwdc[5] = { 0, 3, 4, 2, 1 }; /* logical N C D H W -> physical N H W D C */
    int v, vid;
    kiln_status st = ox_to_batched(c, x, t_hwdc, &v);
    if (st) return st;
    if (cip) {
        kiln_attrs pa;
        kiln_attrs_init(&pa);
        pa.rank = 5;
        pa.pads_begin[1] = (int32_t)p[1], pa.pads_begin[2] = (int32_t)p[2], pa.pads_begin[3] = (int32_t)p[0];
        pa.pads_end[1] = (int32_t)p[4], pa.pads_end[2] = (int32_t)p[5], pa.pads_end[3] = (int32_t)p[3];
        if ((st = ox_emit(c, KILN_OP_PAD, "pad", &v, 1, &pa, &v))) return st;
        memset(p, 0, sizeof p);
    }
    const int64_t N = c->g->values[v].dims[0], C = ox_dim(c, x, 1);
    int64_t d4[5] = { N, in[1], in[2], in[0] * C };
    if ((st = ox_reshape_phys(c, v, 4, d4, "fold_depth", &v))) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = (int)k[1], a.kernel[1] = (int)k[2];
    a.stride[0] = (int)s[1], a.stride[1] = (int)s[2];
    a.dilation[0] = (int)d[1], a.dilation[1] = (int)d[2];
    a.pads[0] = (int)p[1], a.pads[1] = (int)p[2], a.pads[2] = end[1], a.pads[3] = end[2];
    const kiln_op op = avg ? KILN_OP_AVGPOOL : KILN_OP_MAXPOOL;
    if ((st = ox_emit(c, op, "hw", &v, 1, &a, &v))) return st;
    const int64_t ho = c->g->values[v].dims[1], wo = c->g->values[v].dims[2];
    int64_t d5[5] = { N, ho, wo, in[0], C };
    if ((st = ox_reshape_phys(c, v, 5, d5, "unfold_depth", &v))) return st;
    kiln_attrs_init(&a);
    a.rank = 5;
    a.perm[0] = 0, a.perm[1] = 3, a.perm[2] = 1, a.perm[3] = 2, a.perm[4] = 4; /* [N, D, H', W', C] */
    if ((st = ox_emit(c, KILN_OP_TRANSPOSE, "depth_first", &v, 1, &a, &v))) return st;
    const int64_t dv[4] = { N, in[0], ho * wo, C };
    if ((st = ox_reshape_phys(c, v, 4, dv, "view", &v))) return st;
    kiln_attrs_init(&a);
    a.kernel[0] = (int)k[0], a.kernel[1] = 1;
    a.stride[0] = (int)s[0], a.stride[1] = 1;
    a.dilation[0] = (int)d[0], a.dilation[1] = 1;
    a.pads[0] = (int)p[0], a.pads[2] = end[0];
    if ((st = ox_emit(c, op, "", &v, 1, &a, &vid))) return st;
    const int64_t dout[5] = { N, c->g->values[vid].dims[1], ho, wo, C };
    if ((st = ox_reshape_phys(c, vid, 5, dout, "shape", &vid))) return st;
    const int cl[5] = { 0, 2, 3, 4, 1 };
    return ox_set_batched(c, 0, vid, cl);
}

kiln_status ox_op_pool(ox_ctx *c)
{
    const ox_val *x;
    int xin, vid, sd;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    if (ox_rank(c, x) == 5) return pool3d(c, x);
    if ((st = nhwc_input(c, &x, &xin, &sd))) return st;
    int avg = c->node->op_type[0] == 'A';
    kiln_attrs a;
    kiln_attrs_init(&a);
    if ((st = window(c, xin, sd, 1, &a))) return st;
    a.count_include_pad = avg ? (int)ox_attr_i(c->node, "count_include_pad", 0) : 0;
    if (ox_attr_i(c->node, "ceil_mode", 0))
        for (int i = 0; i < 2; i++)
            if (ceil_pads(c->g->values[xin].dims[1 + i], a.kernel[i], a.stride[i], a.dilation[i], a.pads[i],
                          &a.pads[2 + i], avg && a.count_include_pad))
                return ox_fail(c, KILN_ERR_UNSUPPORTED, "ceil_mode=1 with count_include_pad=1 and a window hanging "
                               "past the padding (ONNX does not count the overhang; kiln would)");
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

/* training_mode=1 (fixed-shape mode only: the statistics mix the samples of ONNX axis 0): the mean and the biased
 * variance of every channel over all the other axes, y = (x - mean) / sqrt(var + eps) * scale + B; the optional
 * running outputs are input_mean * momentum + mean * (1 - momentum) (the same for var). The input, channels last, is
 * viewed as [1, M, 1, C] so that GLOBAL_AVGPOOL takes the means. p: scale, B, input mean, input var (constants). */
static kiln_status batchnorm_training(ox_ctx *c, const ox_val *x, const ox_val *const *p, int64_t ch)
{
    if (!c->fixed) return ox_fail_batch(c, "training_mode=1: statistics over the batch");
    const int r = ox_rank(c, x);
    int cl[KILN_MAX_RANK], xin, ids[2], mean, cen, sq, var, inv, y;
    ox_channels_last(c, cl, r);
    kiln_status st = ox_to_perm(c, x, cl, &xin);
    if (st) return st;
    const kiln_value *kv = &c->g->values[xin];
    int64_t xd[KILN_MAX_RANK], m = 1, one = 1;
    const int xr = kv->rank;
    memcpy(xd, kv->dims, sizeof(int64_t) * (size_t)xr);
    for (int i = 1; i < xr - 1; i++) m *= xd[i];
    const int64_t v4[4] = { 1, m, 1, ch };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.keepdims = 1;
    const float eps = ox_attr_f(c->node, "epsilon", 1e-5f), mom = ox_attr_f(c->node, "momentum", 0.9f);
    if ((st = ox_reshape_phys(c, xin, 4, v4, "view", &xin))) return st;
    if ((st = ox_emit(c, KILN_OP_GLOBAL_AVGPOOL, "mean", &xin, 1, &a, &mean))) return st;
    ids[0] = xin, ids[1] = mean;
    if ((st = ox_emit(c, KILN_OP_SUB, "centered", ids, 2, NULL, &cen))) return st;
    ids[0] = ids[1] = cen;
    if ((st = ox_emit(c, KILN_OP_MUL, "squared", ids, 2, NULL, &sq))) return st;
    if ((st = ox_emit(c, KILN_OP_GLOBAL_AVGPOOL, "var", &sq, 1, &a, &var))) return st;
    ids[0] = var;
    if ((st = ox_kconst(c, "eps", 1, &one, &eps, &ids[1]))) return st;
    kiln_attrs_init(&a);
    if ((st = ox_emit(c, KILN_OP_ADD, "var_eps", ids, 2, NULL, &inv))) return st;
    a.act = kiln_act_make(KILN_ACT_POW, -0.5f, 0, 0);
    if ((st = ox_emit(c, KILN_OP_ACTIVATION, "inv_std", &inv, 1, &a, &inv))) return st;
    ids[0] = cen, ids[1] = inv;
    if ((st = ox_emit(c, KILN_OP_MUL, "normalized", ids, 2, NULL, &y))) return st;
    for (int i = 0; i < 2; i++) { /* * scale, + B */
        float *d = ox_const_floats(p[i]);
        if (!d) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        st = ox_kconst(c, i ? "bias" : "scale", 1, &ch, d, &ids[1]);
        free(d);
        ids[0] = y;
        if (st || (st = ox_emit(c, i ? KILN_OP_ADD : KILN_OP_MUL, i ? "shift" : "scaled", ids, 2, NULL, &y))) return st;
    }
    if ((st = ox_reshape_phys(c, y, xr, xd, "", &y)) || (st = ox_set_act(c, 0, y, cl))) return st;
    const int stats[2] = { mean, var };
    for (int i = 0; i < 2; i++) { /* running mean / var */
        if (i + 1 >= (int)c->node->n_output || !c->node->output[i + 1][0]) continue;
        float *d = ox_const_floats(p[2 + i]), k = 1.0f - mom;
        if (!d) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        for (int64_t j = 0; j < ch; j++) d[j] *= mom;
        int s;
        ids[0] = stats[i];
        st = ox_kconst(c, i ? "running_var_factor" : "running_mean_factor", 1, &one, &k, &ids[1]);
        if (!st) st = ox_emit(c, KILN_OP_MUL, i ? "running_var_new" : "running_mean_new", ids, 2, NULL, &s);
        if (!st) st = ox_kconst(c, i ? "running_var_old" : "running_mean_old", 1, &ch, d, &ids[1]);
        free(d);
        ids[0] = s;
        if (!st) st = ox_emit(c, KILN_OP_ADD, i ? "running_var" : "running_mean", ids, 2, NULL, &s);
        const int64_t d2[2] = { 1, ch };
        int perm[2] = { OX_VIRTUAL, 0 };
        if (!st) st = ox_reshape_phys(c, s, 2, d2, i ? "running_var_shape" : "running_mean_shape", &s);
        if (st || (st = ox_set_act(c, i + 1, s, perm))) return st;
    }
    return KILN_OK;
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
    if (ox_attr_i(c->node, "training_mode", 0)) return batchnorm_training(c, x, p, ch);
    ox_channels_last(c, cl, r); /* BATCHNORM works on the last axis of any rank: no batch needed */
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
