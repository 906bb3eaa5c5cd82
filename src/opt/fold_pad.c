/* Pass fold_pad: an explicit Pad (Keras ZeroPadding2D, ONNX Pad) on H and W only is folded into the padding of the
 * Conv2D / AvgPool / MaxPool reading it. Per reader, with (t, l, b, r) the Pad's amounts on H and W:
 *
 *   Conv2D, pad value 0:  a conv's own padding taps contribute nothing, i.e. they ARE zeros, so
 *                         conv(pad0(x), pads P) = conv(x, pads P + (t, l, b, r)).
 *   AvgPool, pad value 0: average of a window over the padded tensor = sum of its in-bounds cells / (KH*KW), i.e.
 *                         avgpool(x, pads (t,l,b,r), count_include_pad = 1). Only when the pool has no padding of
 *                         its own, or already counts its padding (count_include_pad = 1).
 *   MaxPool:              a max pool's own padding cells never win (they act as -inf), so
 *                         - pad value -inf folds always: maxpool(pad_-inf(x)) = maxpool(x, pads + (t,l,b,r));
 *                         - pad value 0 folds only when (a) x >= 0 everywhere (x comes from relu/relu6/sigmoid/...,
 *                           kiln_opt_output_nonnegative) so a 0 cell never beats the window's real cells, and
 *                           (b) every window still holds a real cell (each of t,l,b,r < the window size, and the
 *                           pool has no padding of its own), so the max is over real cells >= 0 = with the zeros.
 *                         Otherwise (e.g. ZeroPadding2D + MaxPool on a tensor that may be negative) it is NOT
 *                         foldable: the zeros can win a max there and folding would change the result.
 * The Pad stays while any reader is left unfolded. Reader names gain the Pad's: "zero_padding2d + conv2d". */
#include <math.h>
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

/* Pad amounts on H,W when the Pad touches nothing else (rank 4, batch and channel axes unpadded), else -1. */
static int hw_pads(const kiln_node *p, int32_t out[4])
{
    const kiln_attrs *a = &p->attrs;
    if (a->pads_begin[0] || a->pads_end[0] || a->pads_begin[3] || a->pads_end[3]) return -1;
    for (int d = 1; d < 3; d++)
        if (a->pads_begin[d] < 0 || a->pads_end[d] < 0) return -1;
    out[0] = a->pads_begin[1];
    out[1] = a->pads_begin[2];
    out[2] = a->pads_end[1];
    out[3] = a->pads_end[2];
    return 0;
}

static int foldable(const kiln_graph *g, const kiln_node *pad, const kiln_node *r, const int32_t pp[4])
{
    const kiln_attrs *a = &r->attrs;
    const float v = pad->attrs.pad_value;
    int own_pads = a->pads[0] || a->pads[1] || a->pads[2] || a->pads[3];
    switch (r->op) {
    case KILN_OP_CONV2D: return v == 0.0f;
    case KILN_OP_AVGPOOL: return v == 0.0f && (!own_pads || a->count_include_pad);
    case KILN_OP_MAXPOOL:
        if (isinf(v) && v < 0) return 1;
        if (v != 0.0f || own_pads || !kiln_opt_output_nonnegative(g, pad->inputs[0])) return 0;
        return pp[0] < a->kernel[0] && pp[2] < a->kernel[0] && pp[1] < a->kernel[1] && pp[3] < a->kernel[1];
    default: return 0;
    }
}

kiln_status kiln_pass_fold_pad(kiln_graph *g, int *changes)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *pad = &g->nodes[i];
        int32_t pp[4];
        if (pad->op != KILN_OP_PAD || g->values[pad->inputs[0]].rank != 4 || hw_pads(pad, pp)) continue;
        for (int r = i + 1; r < g->n_nodes; r++) {
            kiln_node *R = &g->nodes[r];
            if (R->inputs[0] != pad->output || !foldable(g, pad, R, pp)) continue;
            int slot_elsewhere = 0; /* the pad's output also in another input slot of R (not a real case) */
            for (int j = 1; j < R->n_inputs; j++) slot_elsewhere |= R->inputs[j] == pad->output;
            if (slot_elsewhere) continue;
            for (int k = 0; k < 4; k++) R->attrs.pads[k] += pp[k];
            if (R->op == KILN_OP_AVGPOOL) R->attrs.count_include_pad = 1;
            R->inputs[0] = pad->inputs[0];
            kiln_status st = kiln_opt_prepend_name(R, pad->name);
            if (st) return st;
            (*changes)++;
        }
    }
    return KILN_OK; /* a Pad nobody reads any more is dropped by compact */
}
