/* Reference RESIZE of x[N,H,W,C] to [N,OH,OW,C]: ONNX Resize's nearest / linear / cubic interpolation over H and W,
 * every coordinate transformation, nearest rounding, cubic_coeff_a, exclude_outside, antialias and
 * tf_crop_and_resize's extrapolation (parameters: src/core/resize.h).
 *
 * Separable, as the ONNX reference: each output index of an axis reads a few input indices ("taps") with weights;
 * output (oh, ow) = sum_i wh_i * sum_j ww_j * x[ih_i, iw_j] in double. Taps outside the input read the edge value
 * (ONNX pads with edge values), unless exclude_outside drops them. */
#include <math.h>

#include "../../core/resize.h"
#include "ref_util.h"

typedef struct {
    int n, outside;                     /* outside: tf_crop_and_resize source out of range -> extrapolation */
    int64_t idx[KILN_RESIZE_MAX_TAPS];
    double w[KILN_RESIZE_MAX_TAPS];
} taps;

static double source_coord(const kiln_resize_params *p, int axis, int64_t o, int64_t in, const float *roi)
{
    const int64_t out = p->out[axis];
    const double s = kiln_resize_scale(p, axis, in), ow = s * (double)in, y = (double)o;
    switch (p->coord) {
    case KILN_RESIZE_HALF_PIXEL_SYMMETRIC:
        return (double)in / 2 * (1 - (double)out / ow) + (y + 0.5) / s - 0.5;
    case KILN_RESIZE_PYTORCH_HALF_PIXEL:
        return out > 1 ? (y + 0.5) / s - 0.5 : -0.5;
    case KILN_RESIZE_ALIGN_CORNERS:
        return out > 1 ? y * (double)(in - 1) / (ow - 1) : 0.0;
    case KILN_RESIZE_ASYMMETRIC:
        return y / s;
    case KILN_RESIZE_TF_HALF_PIXEL_FOR_NN:
        return (y + 0.5) / s;
    case KILN_RESIZE_TF_CROP_AND_RESIZE: {
        const double start = roi ? roi[axis] : 0.0, end = roi ? roi[2 + axis] : 1.0;
        const double span = (end - start) * (double)(in - 1);
        return start * (double)(in - 1) + (out > 1 ? y * span / (double)(out - 1) : span / 2);
    }
    default: /* KILN_RESIZE_HALF_PIXEL */
        return (y + 0.5) / s - 0.5;
    }
}

/* Keys' cubic convolution kernel with parameter A at distance d. */
static double cubic_weight(double d, double A)
{
    d = fabs(d);
    if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
    if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
    return 0.0;
}

static void axis_taps(const kiln_resize_params *p, int axis, int64_t o, int64_t in, const float *roi, taps *t)
{
    const double x = source_coord(p, axis, o, in, roi);
    t->n = 0;
    t->outside = p->coord == KILN_RESIZE_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1));
    if (t->outside) return;
    /* base and r in (0, 1]: an integral x is base + 1 with r = 1 (the ONNX reference prefers the left neighbours) */
    const double f = floor(x);
    const int64_t base = x == f ? (int64_t)f - 1 : (int64_t)f;
    const double r = x == f ? 1.0 : x - f;
    if (p->interp == KILN_RESIZE_NEAREST) {
        int up;
        switch (p->round) {
        case KILN_RESIZE_ROUND_PREFER_FLOOR: up = r > 0.5; break;
        case KILN_RESIZE_FLOOR: up = r == 1.0; break;
        case KILN_RESIZE_CEIL: up = 1; break;
        default: up = r >= 0.5; break; /* KILN_RESIZE_ROUND_PREFER_CEIL */
        }
        t->n = 1;
        t->idx[0] = base + up;
        t->w[0] = 1.0;
    } else {
        /* Filter support in taps: 2 (linear) or 4 (cubic), widened by 1/scale when antialiasing a downscale. */
        const double s = kiln_resize_scale(p, axis, in), fs = p->antialias && s < 1 ? s : 1.0;
        const int cubic = p->interp == KILN_RESIZE_CUBIC;
        const int64_t start = (int64_t)floor((cubic ? -2.0 : -1.0) / fs) + 1;
        int64_t count = 2 - 2 * start; /* taps start .. 1 - start around x (start 0 linear, -1 cubic) */
        if (count > KILN_RESIZE_MAX_TAPS) count = KILN_RESIZE_MAX_TAPS; /* the importer refuses wider filters */
        double sum = 0;
        for (int64_t k = 0; k < count; k++) {
            const double d = ((double)(start + k) - r) * fs;
            const double w = cubic ? cubic_weight(d, p->cubic_a) : fmax(0.0, 1.0 - fabs(d));
            t->idx[t->n] = base + start + k;
            t->w[t->n++] = w;
            sum += w;
        }
        if (p->antialias && sum != 0)
            for (int k = 0; k < t->n; k++) t->w[k] /= sum;
        if (p->exclude_outside) {
            sum = 0;
            for (int k = 0; k < t->n; k++) {
                if (t->idx[k] < 0 || t->idx[k] >= in) t->w[k] = 0;
                sum += t->w[k];
            }
            if (sum != 0)
                for (int k = 0; k < t->n; k++) t->w[k] /= sum;
        }
    }
    for (int k = 0; k < t->n; k++) t->idx[k] = t->idx[k] < 0 ? 0 : t->idx[k] >= in ? in - 1 : t->idx[k];
}

void kiln_ref_resize(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0);
    const int64_t H = xv->dims[1], W = xv->dims[2], C = xv->dims[3];
    kiln_resize_params p;
    kiln_resize_params_load(&a->node->attrs, &p);
    const int64_t OH = p.out[0], OW = p.out[1];
    const float *roi = a->node->n_inputs > 1 ? a->in[1] : NULL;
    const float extrap = p.extrapolation;
    taps th, tw;
    for (int64_t b = 0; b < a->batch; b++) {
        const float *x = a->in[0] + b * H * W * C;
        float *y = a->out + b * OH * OW * C;
        for (int64_t oh = 0; oh < OH; oh++) {
            axis_taps(&p, 0, oh, H, roi, &th);
            for (int64_t ow = 0; ow < OW; ow++) {
                float *yp = y + (oh * OW + ow) * C;
                axis_taps(&p, 1, ow, W, roi, &tw);
                if (th.outside || tw.outside) {
                    for (int64_t c = 0; c < C; c++) yp[c] = extrap;
                    continue;
                }
                for (int64_t c = 0; c < C; c++) {
                    double acc = 0;
                    for (int i = 0; i < th.n; i++) {
                        const float *row = x + th.idx[i] * W * C + c;
                        double sw = 0;
                        for (int j = 0; j < tw.n; j++) sw += tw.w[j] * row[tw.idx[j] * C];
                        acc += th.w[i] * sw;
                    }
                    yp[c] = (float)acc;
                }
            }
        }
    }
    ref_epilogue(a);
}
