/* Reference channel slice, and the channel concat used when the memory planner made operands views.
 *
 * Both move whole channel runs per pixel: pixel p of a [N,H,W,C] tensor with row pitch P (kernel.h; 0 = dense = C)
 * holds its C channels at data[p*P .. p*P + C). When the planner laid the operands out as views of one buffer the
 * source already IS the destination and nothing is copied; otherwise the runs are copied, honouring both pitches. */
#include <string.h>

#include "ref_util.h"

/* Copy `pixels` runs of `c` floats from src (pitch sp) to dst (pitch dp), unless they are already there. */
static void move_runs(float *dst, int64_t dp, const float *src, int64_t sp, int64_t pixels, int64_t c)
{
    if (dst == src && dp == sp) return;
    for (int64_t p = 0; p < pixels; p++) memmove(dst + p * dp, src + p * sp, sizeof(float) * (size_t)c);
}

void kiln_ref_slice(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0), *yv = ref_out(a);
    const int ax = a->node->attrs.axis;
    const int64_t C = xv->dims[ax], Cy = yv->dims[ax];
    const int64_t pixels = ref_count(a, yv) / Cy;
    const int64_t XP = a->in_pitch[0] ? a->in_pitch[0] : C, YP = a->out_pitch ? a->out_pitch : Cy;
    move_runs(a->out, YP, a->in[0] + a->node->attrs.pads_begin[ax], XP, pixels, Cy);
    ref_epilogue(a); /* attrs.act is NONE for slices the optimizer makes; kept for uniformity on dense outputs */
}

int kiln_ref_concat_pitched(const kiln_kernel_args *a)
{
    const kiln_value *yv = ref_out(a);
    const int n = a->node->n_inputs;
    int pitched = a->out_pitch != 0;
    for (int i = 0; i < n; i++) pitched |= a->in_pitch[i] != 0;
    if (!pitched) return 0;
    /* The planner only pitches a last-axis concat of activations (src/plan/plan.c). */
    const int64_t Cy = yv->dims[yv->rank - 1], YP = a->out_pitch ? a->out_pitch : Cy;
    const int64_t pixels = ref_count(a, yv) / Cy;
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const kiln_value *xv = ref_in(a, i);
        const int64_t C = xv->dims[xv->rank - 1], XP = a->in_pitch[i] ? a->in_pitch[i] : C;
        move_runs(a->out + off, YP, a->in[i], XP, pixels, C);
        off += C;
    }
    return 1;
}
