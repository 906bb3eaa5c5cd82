/* Reference dense (fully connected) layer over the last axis, any rank.
 *
 *   x[..., Cin]  W[Cin,Cout]  bias[Cout] (optional)  ->  y[..., Cout]
 *   y[r, co] = act(bias[co] + sum_ci x[r, ci] * W[ci, co])   for every row r of the leading axes (batch included).
 * The sum is accumulated in float in the order ci; the bias is added after it. */
#include "ref_util.h"

void kiln_ref_dense(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0), *wv = ref_in(a, 1);
    const float *x = a->in[0], *w = a->in[1];
    const float *bias = a->node->n_inputs > 2 ? a->in[2] : NULL;
    const int64_t Cin = wv->dims[0], Cout = wv->dims[1];
    const int64_t rows = ref_count(a, xv) / Cin;

    for (int64_t r = 0; r < rows; r++)
        for (int64_t co = 0; co < Cout; co++) {
            float acc = 0.0f;
            for (int64_t ci = 0; ci < Cin; ci++) acc += x[r * Cin + ci] * w[ci * Cout + co];
            if (bias) acc += bias[co];
            a->out[r * Cout + co] = acc;
        }
    ref_epilogue(a);
}
