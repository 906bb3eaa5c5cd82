/* Reference normalisation-like ops over the last axis: batch normalisation (inference form) and softmax. */
#include <math.h>

#include "ref_util.h"

/* y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c], c = index on the last axis. */
void kiln_ref_batchnorm(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0);
    const float *x = a->in[0], *gamma = a->in[1], *beta = a->in[2], *mean = a->in[3], *var = a->in[4];
    const float eps = a->node->attrs.eps;
    const int64_t C = xv->dims[xv->rank - 1];
    const int64_t rows = ref_count(a, xv) / C;

    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++)
            a->out[r * C + c] = (x[r * C + c] - mean[c]) / sqrtf(var[c] + eps) * gamma[c] + beta[c];
    ref_epilogue(a);
}

/* y = exp(x - max) / sum(exp(x - max)) along attrs.axis; subtracting the max keeps exp() from overflowing. */
void kiln_ref_softmax(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0);
    int64_t dims[KILN_MAX_RANK];
    ref_dims(a, xv, dims);
    const int axis = a->node->attrs.axis;
    const int64_t outer = ref_prod(dims, 0, axis), len = dims[axis], inner = ref_prod(dims, axis + 1, xv->rank);
    const float *x = a->in[0];
    float *y = a->out;

    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const int64_t base = o * len * inner + i; /* element k of this line is at base + k*inner */
            float mx = x[base];
            for (int64_t k = 1; k < len; k++) mx = fmaxf(mx, x[base + k * inner]);
            float sum = 0.0f;
            for (int64_t k = 0; k < len; k++) {
                const float e = expf(x[base + k * inner] - mx);
                y[base + k * inner] = e;
                sum += e;
            }
            for (int64_t k = 0; k < len; k++) y[base + k * inner] /= sum;
        }
    ref_epilogue(a);
}
