/* Pass fuse_swish: exporters that have no swish/SiLU op spell it out (ONNX from PyTorch or tf2onnx):
 *     Mul(x, Sigmoid(x))  =  x * 1/(1+e^-x)  =  swish(x)
 *     Mul(x, HardSigmoid(x)) with alpha = 1/6, beta = 1/2  =  x * clip(x/6 + 1/2, 0, 1)  =  hard_swish(x)
 * When the gate is read only by the Mul, the pair becomes one ACTIVATION node (named "<gate> + <mul>"), which
 * fuse_activation can then move into x's producer (x is no longer read twice). */
#include <math.h>
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

/* The activation kind that gate node n turns Mul(x, n(x)) into, or KILN_ACT_NONE. */
static int swish_kind_of(const kiln_node *n)
{
    if (n->op != KILN_OP_ACTIVATION) return KILN_ACT_NONE;
    if (n->attrs.act.kind == KILN_ACT_SIGMOID) return KILN_ACT_SWISH;
    if (n->attrs.act.kind == KILN_ACT_HARD_SIGMOID && fabsf(n->attrs.act.alpha - 1.0f / 6.0f) < 1e-6f &&
        fabsf(n->attrs.act.beta - 0.5f) < 1e-6f)
        return KILN_ACT_HARD_SWISH;
    return KILN_ACT_NONE;
}

kiln_status kiln_pass_fuse_swish(kiln_graph *g, int *changes)
{
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_swish: out of memory");
    kiln_status st = KILN_OK;
    for (int m = 0; m < g->n_nodes && !st; m++) {
        const kiln_node *M = &g->nodes[m];
        if (M->op != KILN_OP_MUL || M->attrs.act.kind != KILN_ACT_NONE || M->n_inputs != 2) continue;
        for (int side = 0; side < 2; side++) {
            int gate_v = M->inputs[side], x = M->inputs[1 - side];
            int s = g->values[gate_v].producer;
            if (s < 0 || dead[s]) continue;
            kiln_node *S = &g->nodes[s];
            int kind = swish_kind_of(S);
            if (kind == KILN_ACT_NONE || S->inputs[0] != x) continue;
            if (kiln_opt_use_count(g, gate_v) != 1 || kiln_opt_is_graph_output(g, gate_v)) continue;
            S->attrs.act.kind = kind;
            S->attrs.act.alpha = S->attrs.act.beta = S->attrs.act.gamma = 0.0f;
            st = kiln_opt_absorb(g, s, m, dead);
            if (!st) (*changes)++;
            break;
        }
    }
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    return st;
}
