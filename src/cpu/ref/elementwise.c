/* Reference elementwise ops: the ACTIVATION op and binary ops with NumPy broadcasting.
 *
 * Broadcasting: shapes are right-aligned to the output rank; an axis of size 1 repeats. An activation input's dims[0]
 * stands for the run's batch; a constant's dims are literal (a bias [C] or a scale [1,1,1,C] has no batch). */
#include <math.h>

#include "ref_util.h"

/* y = act(x): a copy followed by the epilogue. */
void kiln_ref_activation(const kiln_kernel_args *a)
{
    const int64_t n = ref_count(a, ref_out(a));
    for (int64_t i = 0; i < n; i++) a->out[i] = a->in[0][i];
    ref_epilogue(a);
}

typedef float (*binary_fn)(float x, float y);

/* Element strides of input `v` right-aligned to an output of rank r: 0 along the axes it is broadcast over. */
static void broadcast_strides(const kiln_kernel_args *a, const kiln_value *v, int r, int64_t *stride)
{
    int64_t dims[KILN_MAX_RANK];
    ref_dims(a, v, dims);
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        const int j = v->rank - r + i; /* the input's own axis aligned with output axis i, or < 0 */
        if (j < 0 || dims[j] == 1) {
            stride[i] = 0;
        } else {
            stride[i] = s;
        }
        if (j >= 0) s *= dims[j];
    }
}

static void binary(const kiln_kernel_args *a, binary_fn f)
{
    const kiln_value *yv = ref_out(a);
    const int r = yv->rank;
    int64_t od[KILN_MAX_RANK], sa[KILN_MAX_RANK], sb[KILN_MAX_RANK], idx[KILN_MAX_RANK] = { 0 };
    ref_dims(a, yv, od);
    broadcast_strides(a, ref_in(a, 0), r, sa);
    broadcast_strides(a, ref_in(a, 1), r, sb);
    const int64_t n = ref_prod(od, 0, r);
    const float *x = a->in[0], *y = a->in[1];
    int64_t ia = 0, ib = 0; /* offsets of the current output element in each input */

    for (int64_t o = 0; o < n; o++) {
        a->out[o] = f(x[ia], y[ib]);
        /* Advance the output index like an odometer, keeping both input offsets in step. */
        for (int d = r - 1; d >= 0; d--) {
            ia += sa[d];
            ib += sb[d];
            if (++idx[d] < od[d]) break;
            ia -= sa[d] * od[d];
            ib -= sb[d] * od[d];
            idx[d] = 0;
        }
    }
    ref_epilogue(a);
}

static float op_add(float x, float y) { return x + y; }
static float op_sub(float x, float y) { return x - y; }
static float op_mul(float x, float y) { return x * y; }
static float op_div(float x, float y) { return x / y; }
static float op_max(float x, float y) { return fmaxf(x, y); }
static float op_min(float x, float y) { return fminf(x, y); }

void kiln_ref_add(const kiln_kernel_args *a) { binary(a, op_add); }
void kiln_ref_sub(const kiln_kernel_args *a) { binary(a, op_sub); }
void kiln_ref_mul(const kiln_kernel_args *a) { binary(a, op_mul); }
void kiln_ref_div(const kiln_kernel_args *a) { binary(a, op_div); }
void kiln_ref_max(const kiln_kernel_args *a) { binary(a, op_max); }
void kiln_ref_min(const kiln_kernel_args *a) { binary(a, op_min); }

static float op_pow(float x, float y) { return powf(x, y); }
void kiln_ref_pow(const kiln_kernel_args *a) { binary(a, op_pow); }
