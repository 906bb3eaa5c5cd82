/* Resize (opset 10+) and Upsample (7-9) of 4-D NCHW tensors over H, W -> kiln RESIZE (NHWC), which implements ONNX
 * Resize itself: nearest / linear / cubic, every coordinate_transformation_mode, nearest_mode, cubic_coeff_a,
 * exclude_outside, antialias, tf_crop_and_resize with extrapolation_value (src/core/resize.h, src/cpu/ref/resize.c).
 *
 * Output size: `sizes`, or floor(in * scale) for `scales` (the transformation then uses the given scale, not
 * out / in); the `axes` attribute names the axes those inputs describe; keep_aspect_ratio_policy not_larger /
 * not_smaller uses one scale (the min / max of sizes / in over those axes) and out = round(in * scale).
 * Refused: resizing N or C, antialias filters wider than KILN_RESIZE_MAX_TAPS input cells. */
#include <math.h>
#include <string.h>

#include "../../core/resize.h"
#include "onnx_internal.h"

/* Optional constant input i as floats (up to cap); the count, 0 when absent, -1 on failure (*st set). */
static int floats_of(ox_ctx *c, int i, const char *what, float *out, int cap, kiln_status *st)
{
    *st = KILN_OK;
    if (!ox_has_in(c, i)) return 0;
    const ox_val *v;
    if ((*st = ox_const_in(c, i, what, &v))) return -1;
    for (int k = 0; k < v->numel && k < cap; k++) out[k] = v->is_int ? (float)v->i[k] : v->f[k];
    return (int)v->numel;
}

static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* Mode, coordinate transformation and nearest rounding from the attributes (opset < 11 and Upsample: asymmetric,
 * floor, as ONNX Runtime). */
static kiln_status modes(ox_ctx *c, int legacy, kiln_resize_params *p)
{
    static const char *const coords[KILN_RESIZE_COORD_COUNT] = {
        [KILN_RESIZE_HALF_PIXEL] = "half_pixel",
        [KILN_RESIZE_HALF_PIXEL_SYMMETRIC] = "half_pixel_symmetric",
        [KILN_RESIZE_PYTORCH_HALF_PIXEL] = "pytorch_half_pixel",
        [KILN_RESIZE_ALIGN_CORNERS] = "align_corners",
        [KILN_RESIZE_ASYMMETRIC] = "asymmetric",
        [KILN_RESIZE_TF_HALF_PIXEL_FOR_NN] = "tf_half_pixel_for_nn",
        [KILN_RESIZE_TF_CROP_AND_RESIZE] = "tf_crop_and_resize",
    };
    static const char *const rounds[KILN_RESIZE_ROUND_COUNT] = {
        [KILN_RESIZE_ROUND_PREFER_CEIL] = "round_prefer_ceil",
        [KILN_RESIZE_ROUND_PREFER_FLOOR] = "round_prefer_floor",
        [KILN_RESIZE_FLOOR] = "floor",
        [KILN_RESIZE_CEIL] = "ceil",
    };
    const Onnx__NodeProto *n = c->node;
    char mbuf[32], cbuf[40], nbuf[40];
    const char *mode = ox_attr_s(n, "mode", "nearest", mbuf, sizeof mbuf);
    if (!strcmp(mode, "nearest")) p->interp = KILN_RESIZE_NEAREST;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear")) p->interp = KILN_RESIZE_LINEAR;
    else if (!strcmp(mode, "cubic") || !strcmp(mode, "bicubic")) p->interp = KILN_RESIZE_CUBIC;
    else return ox_fail(c, KILN_ERR_UNSUPPORTED, "mode %s", mode);
    const char *ctm = legacy ? "asymmetric" : ox_attr_s(n, "coordinate_transformation_mode", "half_pixel", cbuf, sizeof cbuf);
    const char *nm = legacy ? "floor" : ox_attr_s(n, "nearest_mode", "round_prefer_floor", nbuf, sizeof nbuf);
    if ((p->coord = lookup(ctm, coords, KILN_RESIZE_COORD_COUNT)) < 0)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "coordinate_transformation_mode %s", ctm);
    if ((p->round = lookup(nm, rounds, KILN_RESIZE_ROUND_COUNT)) < 0)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "nearest_mode %s", nm);
    p->cubic_a = ox_attr_f(n, "cubic_coeff_a", -0.75f);
    p->exclude_outside = (int)ox_attr_i(n, "exclude_outside", 0);
    p->extrapolation = ox_attr_f(n, "extrapolation_value", 0.0f);
    p->antialias = (int)ox_attr_i(n, "antialias", 0);
    return KILN_OK;
}

/* Output size and transformation scale of the 4 logical axes from scales / sizes (+ axes, keep_aspect_ratio_policy).
 * *given_scale: the scales came from the `scales` input or attribute (else from sizes). */
static kiln_status sizes_and_scales(ox_ctx *c, const ox_val *x, int legacy, int64_t *out, double *scale,
                                    int *given_scale, float *roi)
{
    const Onnx__NodeProto *n = c->node;
    const int upsample = !strcmp(n->op_type, "Upsample");
    float scales[8] = { 0 }, sizes[8] = { 0 };
    int ns = 0, nz = 0, nr = 0;
    kiln_status st = KILN_OK;
    if (upsample && c->opset < 9) {
        const Onnx__AttributeProto *a = ox_attr(n, "scales");
        ns = a ? (int)a->n_floats : 0;
        for (int k = 0; k < ns && k < 8; k++) scales[k] = a->floats[k];
    } else if (legacy) {
        if ((ns = floats_of(c, 1, "scales", scales, 8, &st)) < 0) return st;
    } else {
        if ((nr = floats_of(c, 1, "roi", roi, 16, &st)) < 0 || (ns = floats_of(c, 2, "scales", scales, 8, &st)) < 0 ||
            (nz = floats_of(c, 3, "sizes", sizes, 8, &st)) < 0)
            return st;
    }
    int64_t axes[8];
    int na = ox_attr_ints(n, "axes", axes, 8);
    if (na < 0) {
        na = 4;
        for (int a = 0; a < 4; a++) axes[a] = a;
    }
    for (int i = 0; i < na; i++) {
        if (axes[i] < 0) axes[i] += 4;
        if (axes[i] < 0 || axes[i] > 3) return ox_fail(c, KILN_ERR_FORMAT, "axes value out of range");
    }
    if (nz && nz != na) return ox_fail(c, KILN_ERR_FORMAT, "sizes has %d values for %d axes", nz, na);
    if (!nz && ns != na) return ox_fail(c, KILN_ERR_FORMAT, "needs %d scales or sizes (got %d, %d)", na, ns, nz);
    if (nr && nr != 2 * na) return ox_fail(c, KILN_ERR_FORMAT, "roi has %d values for %d axes", nr, na);
    int64_t in[4];
    for (int a = 0; a < 4; a++) in[a] = ox_dim(c, x, a), out[a] = in[a], scale[a] = 1.0;
    /* roi per logical axis (defaults: the whole axis), then only H and W kept: start_h, start_w, end_h, end_w */
    double rs[4] = { 0, 0, 0, 0 }, re[4] = { 1, 1, 1, 1 };
    for (int i = 0; i < na && nr; i++) rs[axes[i]] = roi[i], re[axes[i]] = roi[na + i];
    *given_scale = !nz;
    if (!nz) {
        for (int i = 0; i < na; i++) {
            scale[axes[i]] = scales[i];
            out[axes[i]] = (int64_t)floor((double)in[axes[i]] * (double)scales[i]);
        }
    } else {
        char kbuf[32];
        const char *policy = ox_attr_s(n, "keep_aspect_ratio_policy", "stretch", kbuf, sizeof kbuf);
        const int larger = !strcmp(policy, "not_smaller");
        if (!strcmp(policy, "stretch")) {
            for (int i = 0; i < na; i++) {
                out[axes[i]] = (int64_t)sizes[i];
                scale[axes[i]] = (double)out[axes[i]] / (double)in[axes[i]];
            }
        } else if (larger || !strcmp(policy, "not_larger")) {
            double s = larger ? 0 : INFINITY;
            for (int i = 0; i < na; i++) {
                const double r = (double)sizes[i] / (double)in[axes[i]];
                s = larger ? fmax(s, r) : fmin(s, r);
            }
            for (int i = 0; i < na; i++) {
                scale[axes[i]] = s;
                out[axes[i]] = (int64_t)floor(s * (double)in[axes[i]] + 0.5);
            }
            *given_scale = 1; /* one scale for every axis: out / in no longer gives it */
        } else {
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "keep_aspect_ratio_policy %s", policy);
        }
    }
    for (int a = 0; a < 2; a++)
        if (out[a] != in[a] || rs[a] != 0 || re[a] != 1)
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "resizing the %s axis (kiln resizes H and W of NCHW tensors)",
                           a ? "channel" : "batch");
    for (int a = 2; a < 4; a++) {
        if (out[a] < 1) return ox_fail(c, KILN_ERR_UNSUPPORTED, "output size %lld of axis %d", (long long)out[a], a);
        roi[a - 2] = (float)rs[a];
        roi[a] = (float)re[a];
    }
    return KILN_OK;
}

kiln_status ox_op_resize(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    if (ox_rank(c, x) != 4) return ox_fail(c, KILN_ERR_UNSUPPORTED, "kiln resizes 4-D NCHW tensors only");
    const int legacy = !strcmp(c->node->op_type, "Upsample") || c->opset < 11;
    kiln_resize_params p;
    kiln_resize_params_init(&p);
    if ((st = modes(c, legacy, &p))) return st;
    int64_t out[4] = { 0 };
    double scale[4] = { 0 };
    int given_scale = 0;
    float roi[16];
    if ((st = sizes_and_scales(c, x, legacy, out, scale, &given_scale, roi))) return st;
    for (int a = 0; a < 2; a++) {
        p.out[a] = out[2 + a];
        p.scale[a] = given_scale ? (float)scale[2 + a] : 0.0f; /* 0: out / in, computed in double by the kernel */
        if (!(scale[2 + a] > 0)) return ox_fail(c, KILN_ERR_FORMAT, "scale %g of axis %d", scale[2 + a], 2 + a);
        if (p.antialias && p.interp != KILN_RESIZE_NEAREST && scale[2 + a] < 1) {
            const double start = floor((p.interp == KILN_RESIZE_CUBIC ? -2.0 : -1.0) / scale[2 + a]) + 1;
            if (2 - 2 * start > KILN_RESIZE_MAX_TAPS)
                return ox_fail(c, KILN_ERR_UNSUPPORTED, "antialias at scale %g reads more than %d cells per output",
                               scale[2 + a], KILN_RESIZE_MAX_TAPS);
        }
    }
    kiln_attrs at;
    kiln_attrs_init(&at);
    kiln_resize_params_store(&at, &p);
    int cl[4], ids[2], vid, n_in = 1;
    ox_channels_last_batched(cl, 4);
    if ((st = ox_to_batched(c, x, cl, &ids[0]))) return st;
    if (p.coord == KILN_RESIZE_TF_CROP_AND_RESIZE) {
        int64_t four = 4;
        if ((st = ox_kconst(c, "roi", 1, &four, roi, &ids[1]))) return st;
        n_in = 2;
    }
    if ((st = ox_emit(c, KILN_OP_RESIZE, "", ids, n_in, &at, &vid))) return st;
    return ox_set_batched(c, 0, vid, cl);
}
