/* Reference kernels of LAYERNORM and CROP (see src/core/ops.def for their exact definitions; RESIZE: resize.c). */
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
