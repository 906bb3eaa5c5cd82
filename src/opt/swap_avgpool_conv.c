/* Pass swap_avgpool_conv: a 1x1 Conv2D reading a stride-1 average pool that keeps the map size (Inception's pool
 * branch: AvgPool 3x3 'same' -> 1x1 conv) runs FIRST, and the pool averages its (fewer) output channels:
 *
 *     y = act(conv1x1(avgpool(x), W) + b)      ==>      y = act(avgpool(conv1x1(x, W) + b))
 *
 * Both maps are linear per pixel and the pool averages the same window of pixels for every channel, so
 *     W^T (sum_{q in win(p)} x_q / n(p)) + b = sum_{q in win(p)} (W^T x_q + b) / n(p)
 * where n(p) counts the window's in-bounds cells; that holds when the pool divides by exactly the cells it sums
 * (count_include_pad = 0, Keras 'same' and ONNX's default, or no padding at all). Only float rounding differs (the
 * sums run in another order). Taken only when it pays: the conv has no more output channels than input channels
 * (the pool then reads Cout instead of Cin channels a pixel, 4-7x fewer in GoogLeNet and InceptionV3) and the pool
 * keeps the map size (a conv before a downsampling pool would run on 4x the pixels). The conv now reads the pool's
 * input, the tensor its sibling branches read, so fuse_horizontal (after this pass) merges it into their wide conv.
 * The conv's fused activation moves to the pool's epilogue (pools apply attrs.act); a conv with a fused residual
 * is left alone. Names stay with their layers: the conv keeps its name, the pool its own. */
#include <math.h>

#include "../core/act.h"
#include "../core/status.h"
#include "opt.h"

static int pointwise_conv(const kiln_graph *g, const kiln_node *c)
{
    const kiln_attrs *a = &c->attrs;
    if (c->op != KILN_OP_CONV2D || c->n_inputs < 2 || c->n_inputs > 3 || a->groups != 1) return 0;
    if (a->kernel[0] != 1 || a->kernel[1] != 1 || a->stride[0] != 1 || a->stride[1] != 1) return 0;
    if (a->pads[0] || a->pads[1] || a->pads[2] || a->pads[3]) return 0;
    if (!kiln_opt_is_const(g, c->inputs[1]) || (c->n_inputs == 3 && !kiln_opt_is_const(g, c->inputs[2]))) return 0;
    const kiln_value *w = &g->values[c->inputs[1]];
    return w->rank == 4 && w->dims[0] == 1 && w->dims[1] == 1 && w->dims[3] <= w->dims[2];
}

static int size_keeping_avgpool(const kiln_graph *g, const kiln_node *p)
{
    const kiln_attrs *a = &p->attrs;
    if (p->op != KILN_OP_AVGPOOL || a->act.kind != KILN_ACT_NONE) return 0;
    const kiln_value *x = &g->values[p->inputs[0]], *y = &g->values[p->output];
    if (x->rank != 4 || y->rank != 4 || x->dims[1] != y->dims[1] || x->dims[2] != y->dims[2]) return 0;
    if (a->stride[0] != 1 || a->stride[1] != 1) return 0;
    const int padded = a->pads[0] || a->pads[1] || a->pads[2] || a->pads[3];
    return !padded || !a->count_include_pad;
}

kiln_status kiln_pass_swap_avgpool_conv(kiln_graph *g, int *changes)
{
    for (int ci = 0; ci < g->n_nodes; ci++) {
        kiln_node *c = &g->nodes[ci];
        if (c->op != KILN_OP_CONV2D) continue;
        const int t = c->inputs[0], pi = g->values[t].producer;
        if (pi < 0 || !pointwise_conv(g, c) || !size_keeping_avgpool(g, &g->nodes[pi])) continue;
        if (!kiln_opt_single_reader(g, t)) continue;
        kiln_node *p = &g->nodes[pi];
        /* Node pi becomes the conv (reading x, writing t, now Cout channels wide), node ci the pool (reading t,
         * writing y): topological order holds, and y keeps its value, name and readers. */
        kiln_node conv = *c, pool = *p;
        const int x = pool.inputs[0], y = conv.output;
        conv.inputs[0] = x;
        conv.output = t;
        pool.inputs[0] = t;
        pool.output = y;
        pool.attrs.act = conv.attrs.act;
        conv.attrs.act = kiln_act_make(KILN_ACT_NONE, 0.0f, INFINITY, 0.0f);
        *p = conv;
        *c = pool;
        g->values[t].dims[3] = g->values[y].dims[3];
        g->values[t].producer = pi;
        g->values[y].producer = ci;
        (*changes)++;
    }
    return KILN_OK;
}
