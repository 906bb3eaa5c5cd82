/* Resize (opset 10+) and Upsample (7-9) of 4-D NCHW tensors over H, W -> kiln RESIZE (NHWC).
 *
 * kiln's RESIZE computes nearest as src = floor((o + 0.5) * in / out) and bilinear with half-pixel centers clamped
 * at the edges. The ONNX settings that give exactly those numbers are accepted, the rest refused with a reason:
 *   linear:  coordinate_transformation_mode half_pixel (or pytorch_half_pixel with an output size > 1);
 *   nearest: tf_half_pixel_for_nn + floor (any scale); half_pixel / pytorch_half_pixel + round_prefer_* or
 *            asymmetric + floor, for integer upscaling factors;
 * no antialias, no cubic, no align_corners / tf_crop_and_resize, N and C unscaled, and a scale equal to out/in
 * (when scales are given, in * scale must be a whole number). */
#include <math.h>
#include <string.h>

#include "onnx_internal.h"

static int floats_of(ox_ctx *c, int i, float *out, int cap, kiln_status *st)
{
    *st = KILN_OK;
    if (!ox_has_in(c, i)) return 0;
    const ox_val *v;
    if ((*st = ox_const_in(c, i, "scales/sizes", &v))) return -1;
    for (int k = 0; k < v->numel && k < cap; k++) out[k] = v->is_int ? (float)v->i[k] : v->f[k];
    return (int)v->numel;
}

kiln_status ox_op_resize(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    if (ox_rank(c, x) != 4) return ox_fail(c, KILN_ERR_UNSUPPORTED, "kiln resizes 4-D NCHW tensors only");
    const Onnx__NodeProto *n = c->node;
    int upsample = !strcmp(n->op_type, "Upsample");
    char mbuf[32], cbuf[40], nbuf[40];
    const char *mode = ox_attr_s(n, "mode", "nearest", mbuf, sizeof mbuf);
    const char *ctm = upsample || c->opset < 11 ? "asymmetric"
                    : ox_attr_s(n, "coordinate_transformation_mode", "half_pixel", cbuf, sizeof cbuf);
    const char *nm = upsample || c->opset < 11 ? "floor" : ox_attr_s(n, "nearest_mode", "round_prefer_floor", nbuf, sizeof nbuf);
    if (ox_attr_i(n, "antialias", 0)) return ox_fail(c, KILN_ERR_UNSUPPORTED, "antialias=1");
    if (ox_attr(n, "axes")) return ox_fail(c, KILN_ERR_UNSUPPORTED, "the axes attribute");
    char kbuf[32];
    if (strcmp(ox_attr_s(n, "keep_aspect_ratio_policy", "stretch", kbuf, sizeof kbuf), "stretch"))
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "keep_aspect_ratio_policy other than stretch");
    float scales[8] = { 0 }, sizes[8] = { 0 };
    int ns = 0, nz = 0;
    if (upsample && c->opset < 9) {
        const Onnx__AttributeProto *a = ox_attr(n, "scales");
        ns = a ? (int)a->n_floats : 0;
        for (int k = 0; k < ns && k < 8; k++) scales[k] = a->floats[k];
    } else {
        int si = upsample || c->opset < 11 ? 1 : 2;
        if ((ns = floats_of(c, si, scales, 8, &st)) < 0 || st) return st;
        if (!upsample && c->opset >= 11 && ((nz = floats_of(c, 3, sizes, 8, &st)) < 0 || st)) return st;
    }
    int64_t in[4], out[4];
    double scale[4];
    for (int a = 0; a < 4; a++) in[a] = ox_dim(c, x, a);
    if (nz == 4) {
        for (int a = 0; a < 4; a++) out[a] = (int64_t)sizes[a], scale[a] = (double)out[a] / (double)in[a];
    } else if (ns == 4) {
        for (int a = 0; a < 4; a++) {
            scale[a] = scales[a];
            out[a] = (int64_t)floor((double)in[a] * scale[a]);
            if (fabs((double)in[a] * scale[a] - (double)out[a]) > 1e-4)
                return ox_fail(c, KILN_ERR_UNSUPPORTED, "scale %g of axis %d does not give a whole output size",
                               scale[a], a);
        }
    } else {
        return ox_fail(c, KILN_ERR_FORMAT, "needs 4 scales or 4 sizes (got %d, %d)", ns, nz);
    }
    if (out[0] != in[0] || out[1] != in[1]) return ox_fail(c, KILN_ERR_UNSUPPORTED, "resizing the batch or channels");
    int integer_up = out[2] % in[2] == 0 && out[3] % in[3] == 0;
    kiln_attrs at;
    kiln_attrs_init(&at);
    if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear")) {
        int ok = !strcmp(ctm, "half_pixel") || (!strcmp(ctm, "pytorch_half_pixel") && out[2] > 1 && out[3] > 1);
        if (!ok) return ox_fail(c, KILN_ERR_UNSUPPORTED, "linear resize with coordinate_transformation_mode %s", ctm);
        at.groups = 1;
    } else if (!strcmp(mode, "nearest")) {
        int ok = (!strcmp(ctm, "tf_half_pixel_for_nn") && !strcmp(nm, "floor")) ||
                 (integer_up && !strncmp(nm, "round_prefer_", 13) &&
                  (!strcmp(ctm, "half_pixel") || !strcmp(ctm, "pytorch_half_pixel"))) ||
                 (integer_up && !strcmp(ctm, "asymmetric") && !strcmp(nm, "floor"));
        if (!ok)
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "nearest resize with coordinate_transformation_mode %s, "
                           "nearest_mode %s%s", ctm, nm, integer_up ? "" : " and a non-integer factor");
        at.groups = 0;
    } else {
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "mode %s", mode);
    }
    at.shape[0] = out[2];
    at.shape[1] = out[3];
    int cl[4], xin, vid;
    ox_channels_last(cl, 4);
    if ((st = ox_to_perm(c, x, cl, &xin))) return st;
    if ((st = ox_emit(c, KILN_OP_RESIZE, "", &xin, 1, &at, &vid))) return st;
    return ox_set_act(c, 0, vid, cl);
}
