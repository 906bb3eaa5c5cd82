/* Pass fuse_activation: an ACTIVATION node whose input is produced by an op that applies attrs.act in its epilogue
 * (and has no activation yet), and read by nothing else, moves into that producer: producer.attrs.act = act.
 * The math is the same function (kiln_act_apply, src/core/act.h) applied at the end of the producer's kernel:
 *     Activation(P(x)) = act(P(x)) = P_with_epilogue(x)      for every kind: relu (incl. relu6/clip, leaky,
 * thresholded), sigmoid, hard_sigmoid, swish, hard_swish, tanh, elu, gelu, selu, softplus, softsign, exponential. */
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

/* Producers worth fusing into. Every reference kernel applies attrs.act (src/cpu/ref/ref_util.h ref_epilogue), but
 * only these ops are followed by activations in real networks; optimized tactics must honour attrs.act for them. */
static int has_epilogue(int op)
{
    switch (op) {
    case KILN_OP_CONV2D:
    case KILN_OP_DENSE:
    case KILN_OP_BATCHNORM: /* a BatchNorm that could not be folded (after an Add, or a standalone one) */
    case KILN_OP_MAXPOOL:   /* pools apply attrs.act to each result as they write it */
    case KILN_OP_AVGPOOL:
    case KILN_OP_GLOBAL_AVGPOOL:
    case KILN_OP_GLOBAL_MAXPOOL:
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
    case KILN_OP_MAX:
    case KILN_OP_MIN:
        return 1;
    default:
        return 0;
    }
}

kiln_status kiln_pass_fuse_activation(kiln_graph *g, int *changes)
{
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_activation: out of memory");
    kiln_status st = KILN_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const kiln_node *A = &g->nodes[i];
        if (A->op != KILN_OP_ACTIVATION) continue;
        int x = A->inputs[0], p = g->values[x].producer;
        if (p < 0 || dead[p]) continue;
        kiln_node *P = &g->nodes[p];
        if (!has_epilogue(P->op) || P->attrs.act.kind != KILN_ACT_NONE) continue;
        if (kiln_opt_use_count(g, x) != 1 || kiln_opt_is_graph_output(g, x)) continue;
        P->attrs.act = A->attrs.act;
        st = kiln_opt_absorb(g, p, i, dead);
        if (!st) (*changes)++;
    }
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    return st;
}
