/* Reference MATMUL (ops.def): y[..., m, n] = sum_k A[..., m, k] B[..., k, n], leading axes broadcast, sums in double. */
#include "ref_util.h"

/* Matrix strides (in floats) of input v's leading axes right-aligned to r - 2 output axes: 0 where broadcast. */
static void matrix_strides(const kiln_kernel_args *a, const kiln_value *v, int r, int64_t *stride)
{
    int64_t dims[KILN_MAX_RANK];
    ref_dims(a, v, dims);
    int64_t s = dims[v->rank - 2] * dims[v->rank - 1];
    for (int d = r - 3; d >= 0; d--) {
        const int j = v->rank - r + d;
        stride[d] = j >= 0 && dims[j] != 1 ? s : 0;
        if (j >= 0) s *= dims[j];
    }
}

void kiln_ref_matmul(const kiln_kernel_args *a)
{
    const kiln_value *av = ref_in(a, 0), *bv = ref_in(a, 1), *yv = ref_out(a);
    const int r = yv->rank;
    int64_t od[KILN_MAX_RANK] = { 0 }, sa[KILN_MAX_RANK], sb[KILN_MAX_RANK], idx[KILN_MAX_RANK] = { 0 };
    ref_dims(a, yv, od);
    matrix_strides(a, av, r, sa);
    matrix_strides(a, bv, r, sb);
    const int64_t M = od[r - 2], N = od[r - 1], K = av->dims[av->rank - 1];
    const int64_t count = ref_prod(od, 0, r - 2);
    for (int64_t b = 0; b < count; b++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < r - 2; d++) oa += idx[d] * sa[d], ob += idx[d] * sb[d];
        const float *A = a->in[0] + oa, *B = a->in[1] + ob;
        float *Y = a->out + b * M * N;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) acc += (double)A[m * K + k] * B[k * N + n];
                Y[m * N + n] = (float)acc;
            }
        ref_next_index(idx, od, r - 2);
    }
    ref_epilogue(a);
}
