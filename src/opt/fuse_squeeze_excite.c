/* Pass fuse_squeeze_excite: the squeeze-excite block
 *
 *     s = GlobalAvgPool(x) [-> Reshape]  -> h = FC1(s) with activation a1 [-> Reshape]
 *       -> g = FC2(h) with activation a2 [-> Reshape to [1,1,C]] -> y = Multiply(x, g)   (either operand order)
 *
 * where FC is a Dense or a 1x1 Conv2D (stride 1, no padding, groups 1) on a [N,1,1,C] tensor, becomes ONE
 * SqueezeExcite node: y = x * a2(a1(mean_hw(x) W1 + b1) W2 + b2) with attrs.act = a1, attrs.act2 = a2.
 * A 1x1 conv on [N,1,1,C] and a Dense compute the same sums in the same order, and the SqueezeExcite reference
 * kernel is built from the GlobalAvgPool, Dense and Mul reference kernels, so the numbers are identical.
 * Every intermediate must be read only inside the block; the Multiply must have no activation of its own. A missing
 * bias becomes a zero bias. Name: the source layers in order, "global_average_pooling2d + reshape + conv2d_1 +
 * conv2d_2 + multiply" (efficientnet's SE; osnet's gate is Dense + BN + ReLU + Dense + sigmoid + Reshape). */
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

/* Producer of v, skipping Reshapes (each read once); records every node on the way in chain[]. */
static int through_reshapes(const kiln_graph *g, int v, int *chain, int *n)
{
    int p = g->values[v].producer;
    while (p >= 0 && g->nodes[p].op == KILN_OP_RESHAPE && *n < 12) {
        if (!kiln_opt_single_reader(g, v)) return -1;
        chain[(*n)++] = p;
        v = g->nodes[p].inputs[0];
        p = g->values[v].producer;
    }
    if (p < 0 || !kiln_opt_single_reader(g, v)) return -1;
    return p;
}

/* A fully connected step: Dense, or 1x1 conv on a 1x1 map; returns its output width or -1. */
static int64_t fc_width(const kiln_graph *g, const kiln_node *n)
{
    if (n->op == KILN_OP_DENSE) {
        if (n->n_inputs > 3 || g->values[n->inputs[0]].rank != 2) return -1;
    } else if (n->op == KILN_OP_CONV2D) {
        const kiln_attrs *a = &n->attrs;
        const kiln_value *x = &g->values[n->inputs[0]];
        if (n->n_inputs > 3 || a->kernel[0] != 1 || a->kernel[1] != 1 || a->groups != 1 || a->stride[0] != 1 ||
            a->stride[1] != 1 || a->pads[0] || a->pads[1] || a->pads[2] || a->pads[3] || x->dims[1] != 1 ||
            x->dims[2] != 1)
            return -1;
    } else {
        return -1;
    }
    const kiln_value *w = &g->values[n->inputs[1]];
    if (!kiln_opt_is_const(g, n->inputs[1]) || (n->n_inputs > 2 && !kiln_opt_is_const(g, n->inputs[2]))) return -1;
    return w->dims[w->rank - 1];
}

static kiln_status try_fuse(kiln_graph *g, int m, uint8_t *dead, int *changes)
{
    const kiln_node *M = &g->nodes[m];
    if (M->op != KILN_OP_MUL || M->attrs.act.kind != KILN_ACT_NONE) return KILN_OK;
    for (int k = 0; k < 2; k++) {
        int x = M->inputs[k], gate = M->inputs[1 - k];
        const kiln_value *xv = &g->values[x], *gv = &g->values[gate];
        if (xv->rank != 4 || gv->rank != 4 || gv->dims[1] != 1 || gv->dims[2] != 1 || gv->dims[3] != xv->dims[3])
            continue;
        int chain[16], nc = 0; /* every node of the block but the Multiply */
        int fc2 = through_reshapes(g, gate, chain, &nc);
        if (fc2 < 0 || fc_width(g, &g->nodes[fc2]) != xv->dims[3]) continue;
        chain[nc++] = fc2;
        int fc1 = through_reshapes(g, g->nodes[fc2].inputs[0], chain, &nc);
        int64_t cr = fc1 < 0 ? -1 : fc_width(g, &g->nodes[fc1]);
        if (cr < 1) continue;
        chain[nc++] = fc1;
        int gap = through_reshapes(g, g->nodes[fc1].inputs[0], chain, &nc);
        if (gap < 0 || g->nodes[gap].op != KILN_OP_GLOBAL_AVGPOOL || g->nodes[gap].inputs[0] != x ||
            g->nodes[gap].attrs.act.kind != KILN_ACT_NONE)
            continue;
        chain[nc++] = gap;
        int bad = 0;
        for (int c = 0; c < nc; c++) bad |= dead[chain[c]];
        if (bad) continue;
        if (kiln_opt_ensure_bias(g, fc1) || kiln_opt_ensure_bias(g, fc2)) return KILN_ERR_NO_MEMORY;
        /* Name: sources in execution order (chain was collected backwards). */
        char *name = NULL;
        for (int c = nc - 1; c >= 0; c--) {
            char *nn = name ? kiln_opt_join(name, " + ", g->nodes[chain[c]].name) : kiln_opt_join("", "", g->nodes[chain[c]].name);
            free(name);
            if (!(name = nn)) return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_squeeze_excite: out of memory");
        }
        char *full = kiln_opt_join(name, " + ", g->nodes[m].name);
        free(name);
        if (!full) return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_squeeze_excite: out of memory");
        kiln_node *S = &g->nodes[m];
        const kiln_node *F1 = &g->nodes[fc1], *F2 = &g->nodes[fc2];
        free(S->name);
        S->name = full;
        S->op = KILN_OP_SQUEEZE_EXCITE;
        kiln_attrs_init(&S->attrs);
        S->attrs.act = F1->attrs.act;
        S->attrs.act2 = F2->attrs.act;
        S->n_inputs = 5;
        S->inputs[0] = x;
        S->inputs[1] = F1->inputs[1];
        S->inputs[2] = F1->inputs[2];
        S->inputs[3] = F2->inputs[1];
        S->inputs[4] = F2->inputs[2];
        for (int c = 0; c < nc; c++) dead[chain[c]] = 1;
        (*changes)++;
        return KILN_OK;
    }
    return KILN_OK;
}

kiln_status kiln_pass_fuse_squeeze_excite(kiln_graph *g, int *changes)
{
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_squeeze_excite: out of memory");
    kiln_status st = KILN_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) st = try_fuse(g, i, dead, changes);
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    return st;
}
