/* Reference pooling over H,W, NHWC: windowed max/average and global max/average. */
#include <math.h>

#include "ref_util.h"

/* Shared window walk. Window (oh,ow) covers rows oh*SH - PT + DH*[0,KH) and columns ow*SW - PL + DW*[0,KW); cells outside
 * the input are padding. is_max: max over in-bounds cells (padding never wins; an all-padding window gives -inf,
 * the max of nothing). Otherwise the average: sum of in-bounds cells divided by KH*KW when count_include_pad,
 * else by the in-bounds count (Keras 'same'); an all-padding window then gives 0. */
static void pool2d(const kiln_kernel_args *a, int is_max)
{
    const kiln_attrs *at = &a->node->attrs;
    const kiln_value *xv = ref_in(a, 0), *yv = ref_out(a);
    const int64_t N = a->batch, H = xv->dims[1], W = xv->dims[2], C = xv->dims[3];
    const int64_t OH = yv->dims[1], OW = yv->dims[2];
    const int KH = at->kernel[0], KW = at->kernel[1], SH = at->stride[0], SW = at->stride[1];
    const int PT = at->pads[0], PL = at->pads[1], DH = at->dilation[0], DW = at->dilation[1];
    const float *x = a->in[0];
    /* Row pitches of planner views (kernel.h); 0 = dense. */
    const int64_t XP = a->in_pitch[0] ? a->in_pitch[0] : C, YP = a->out_pitch ? a->out_pitch : C;

    for (int64_t n = 0; n < N; n++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++)
                for (int64_t c = 0; c < C; c++) {
                    float acc = is_max ? -INFINITY : 0.0f;
                    int cells = 0;
                    for (int kh = 0; kh < KH; kh++) {
                        const int64_t ih = oh * SH - PT + (int64_t)kh * DH;
                        if (ih < 0 || ih >= H) continue;
                        for (int kw = 0; kw < KW; kw++) {
                            const int64_t iw = ow * SW - PL + (int64_t)kw * DW;
                            if (iw < 0 || iw >= W) continue;
                            const float v = x[((n * H + ih) * W + iw) * XP + c];
                            acc = is_max ? fmaxf(acc, v) : acc + v;
                            cells++;
                        }
                    }
                    if (!is_max) {
                        const int div = at->count_include_pad ? KH * KW : cells;
                        acc = div ? acc / (float)div : 0.0f;
                    }
                    a->out[((n * OH + oh) * OW + ow) * YP + c] = kiln_act_apply(&at->act, acc);
                }
}

void kiln_ref_maxpool(const kiln_kernel_args *a) { pool2d(a, 1); }
void kiln_ref_avgpool(const kiln_kernel_args *a) { pool2d(a, 0); }

/* Mean or max over all of H,W per channel. The output is [N,1,1,C] or [N,C]: the same floats either way. */
static void global_pool(const kiln_kernel_args *a, int is_max)
{
    const kiln_value *xv = ref_in(a, 0);
    const int64_t N = a->batch, HW = xv->dims[1] * xv->dims[2], C = xv->dims[3];
    const float *x = a->in[0];
    const int64_t XP = a->in_pitch[0] ? a->in_pitch[0] : C; /* planner view pitch (kernel.h); 0 = dense */

    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float acc = is_max ? -INFINITY : 0.0f;
            for (int64_t p = 0; p < HW; p++) {
                const float v = x[(n * HW + p) * XP + c];
                acc = is_max ? fmaxf(acc, v) : acc + v;
            }
            a->out[n * C + c] = is_max ? acc : acc / (float)HW;
        }
    ref_epilogue(a);
}

void kiln_ref_global_avgpool(const kiln_kernel_args *a) { global_pool(a, 0); }
void kiln_ref_global_maxpool(const kiln_kernel_args *a) { global_pool(a, 1); }
