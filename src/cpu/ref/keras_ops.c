/* Reference kernels of LAYERNORM, CROP and RESIZE (see src/core/ops.def for their exact definitions). */
#include <math.h>

#include "ref_util.h"

/* Per position: mean and variance over the last axis (accumulated in double, like a careful reference should). */
void kiln_ref_layernorm(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0);
    const int64_t c = xv->dims[xv->rank - 1];
    const int64_t rows = ref_count(a, xv) / c;
    const float *gamma = a->in[1], *beta = a->in[2];
    const double eps = a->node->attrs.eps;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = a->in[0] + r * c;
        float *y = a->out + r * c;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < c; i++) mean += x[i];
        mean /= (double)c;
        for (int64_t i = 0; i < c; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
        var /= (double)c;
        const double inv = 1.0 / sqrt(var + eps);
        for (int64_t i = 0; i < c; i++) y[i] = (float)(((double)x[i] - mean) * inv * gamma[i] + beta[i]);
    }
    ref_epilogue(a);
}

void kiln_ref_crop(const kiln_kernel_args *a)
{
    const kiln_attrs *at = &a->node->attrs;
    const kiln_value *xv = ref_in(a, 0);
    const int r = xv->rank;
    int64_t xd[KILN_MAX_RANK], od[KILN_MAX_RANK], idx[KILN_MAX_RANK] = { 0 };
    ref_dims(a, xv, xd);
    ref_dims(a, ref_out(a), od);
    const int64_t n = ref_prod(od, 0, r);
    for (int64_t o = 0; o < n; o++) {
        int64_t ix = 0;
        for (int d = 0; d < r; d++) ix = ix * xd[d] + idx[d] + at->pads_begin[d];
        a->out[o] = a->in[0][ix];
        ref_next_index(idx, od, r);
    }
    ref_epilogue(a);
}

/* Bilinear source: two neighbours and the weight of the second, half-pixel centers, clamped at the edges. */
static void bilinear_src(int64_t o, int64_t in, int64_t out, int64_t *i0, int64_t *i1, float *w)
{
    double s = ((double)o + 0.5) * (double)in / (double)out - 0.5;
    if (s < 0) s = 0;
    int64_t f = (int64_t)floor(s);
    if (f > in - 1) f = in - 1;
    *i0 = f;
    *i1 = f + 1 < in ? f + 1 : in - 1;
    *w = (float)(s - (double)f);
}

static int64_t nearest_src(int64_t o, int64_t in, int64_t out)
{
    int64_t s = (int64_t)floor(((double)o + 0.5) * (double)in / (double)out);
    return s < in ? s : in - 1;
}

void kiln_ref_resize(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0);
    const int64_t H = xv->dims[1], W = xv->dims[2], C = xv->dims[3];
    const int64_t OH = a->node->attrs.shape[0], OW = a->node->attrs.shape[1];
    const int bilinear = a->node->attrs.groups == 1;
    for (int b = 0; b < a->batch; b++) {
        const float *x = a->in[0] + (int64_t)b * H * W * C;
        float *y = a->out + (int64_t)b * OH * OW * C;
        for (int64_t oh = 0; oh < OH; oh++) {
            for (int64_t ow = 0; ow < OW; ow++) {
                float *yp = y + (oh * OW + ow) * C;
                if (!bilinear) {
                    const float *xp = x + (nearest_src(oh, H, OH) * W + nearest_src(ow, W, OW)) * C;
                    for (int64_t c = 0; c < C; c++) yp[c] = xp[c];
                    continue;
                }
                int64_t h0, h1, w0, w1;
                float fh, fw;
                bilinear_src(oh, H, OH, &h0, &h1, &fh);
                bilinear_src(ow, W, OW, &w0, &w1, &fw);
                const float *p00 = x + (h0 * W + w0) * C, *p01 = x + (h0 * W + w1) * C;
                const float *p10 = x + (h1 * W + w0) * C, *p11 = x + (h1 * W + w1) * C;
                for (int64_t c = 0; c < C; c++) {
                    const float top = p00[c] + (p01[c] - p00[c]) * fw;
                    const float bot = p10[c] + (p11[c] - p10[c]) * fw;
                    yp[c] = top + (bot - top) * fh;
                }
            }
        }
    }
    ref_epilogue(a);
}
