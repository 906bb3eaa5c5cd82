/* Reference 2-D convolution, NHWC.
 *
 *   x[N,H,W,Cin]  W[KH,KW,Cin/groups,Cout]  bias[Cout] (optional)  ->  y[N,OH,OW,Cout]
 *   y[n,oh,ow,co] = act(bias[co] + sum_{kh,kw,ci} x[n, oh*SH - PT + kh*DH, ow*SW - PL + kw*DW, g*CinG + ci]
 *                                                 * W[kh,kw,ci,co])
 * where g = co / CoutG is the group of output channel co (CinG = Cin/groups, CoutG = Cout/groups). Taps that land in
 * the padding contribute nothing. Depthwise convolution with multiplier m is groups = Cin, CoutG = m.
 * The sum is accumulated in float in the order kh, kw, ci; the bias is added after it, then the residual input when
 * the node has one (4th input, from the optimizer's residual fusion): y = act(sum + bias + residual), the same
 * float operations in the same order as Conv2D followed by Add followed by Activation.
 * Pitches (kernel.h): x is read with a->in_pitch[0] and y written with a->out_pitch when they are not 0. */
#include "ref_util.h"

void kiln_ref_conv2d(const kiln_kernel_args *a)
{
    const kiln_attrs *at = &a->node->attrs;
    const kiln_value *xv = ref_in(a, 0), *wv = ref_in(a, 1), *yv = ref_out(a);
    const float *x = a->in[0], *w = a->in[1];
    const float *bias = a->node->n_inputs > 2 ? a->in[2] : NULL;
    float *y = a->out;

    const int64_t N = a->batch, H = xv->dims[1], W = xv->dims[2], Cin = xv->dims[3];
    const int64_t KH = wv->dims[0], KW = wv->dims[1], CinG = wv->dims[2], Cout = wv->dims[3];
    const int64_t OH = yv->dims[1], OW = yv->dims[2];
    const int64_t CoutG = Cout / at->groups;
    const int SH = at->stride[0], SW = at->stride[1], DH = at->dilation[0], DW = at->dilation[1];
    const int PT = at->pads[0], PL = at->pads[1];
    const float *res = a->node->n_inputs > 3 ? a->in[3] : NULL;
    const int64_t XP = a->in_pitch[0] ? a->in_pitch[0] : Cin, YP = a->out_pitch ? a->out_pitch : Cout;

    for (int64_t n = 0; n < N; n++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++)
                for (int64_t co = 0; co < Cout; co++) {
                    const int64_t c0 = (co / CoutG) * CinG; /* first input channel of this group */
                    float acc = 0.0f;
                    for (int64_t kh = 0; kh < KH; kh++) {
                        const int64_t ih = oh * SH - PT + kh * DH;
                        if (ih < 0 || ih >= H) continue;
                        for (int64_t kw = 0; kw < KW; kw++) {
                            const int64_t iw = ow * SW - PL + kw * DW;
                            if (iw < 0 || iw >= W) continue;
                            const float *xp = x + ((n * H + ih) * W + iw) * XP + c0;
                            const float *wp = w + (kh * KW + kw) * CinG * Cout + co;
                            for (int64_t ci = 0; ci < CinG; ci++) acc += xp[ci] * wp[ci * Cout];
                        }
                    }
                    if (bias) acc += bias[co];
                    if (res) acc += res[((n * OH + oh) * OW + ow) * Cout + co];
                    y[((n * OH + oh) * OW + ow) * YP + co] = kiln_act_apply(&at->act, acc);
                }
}
