/* Pass cancel_transpose: Transpose(Transpose(x, p1), p2) is x when the permutations compose to the identity, and a
 * Transpose with the identity permutation is x.
 *
 * Output axis k of the second transpose is axis p2[k] of the first's output, which is axis p1[p2[k]] of x; so the
 * pair is the identity exactly when p1[p2[k]] == k for every k. Readers of the pair's output read x instead (the
 * first transpose stays while anything else reads it). An output that is a graph output is left alone (it keeps its
 * name). ONNX graphs converted from NHWC models carry such NHWC<->NCHW pairs. */
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

static int is_identity_perm(const kiln_node *n, int rank)
{
    for (int k = 0; k < rank; k++)
        if (n->attrs.perm[k] != k) return 0;
    return 1;
}

kiln_status kiln_pass_cancel_transpose(kiln_graph *g, int *changes)
{
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return kiln_fail(KILN_ERR_NO_MEMORY, "cancel_transpose: out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *t2 = &g->nodes[i];
        if (t2->op != KILN_OP_TRANSPOSE || kiln_opt_is_graph_output(g, t2->output)) continue;
        int rank = g->values[t2->inputs[0]].rank;
        if (is_identity_perm(t2, rank)) {
            kiln_opt_replace_uses(g, t2->output, t2->inputs[0]);
            dead[i] = 1;
            (*changes)++;
            continue;
        }
        int p = g->values[t2->inputs[0]].producer;
        if (p < 0 || dead[p] || g->nodes[p].op != KILN_OP_TRANSPOSE) continue;
        const kiln_node *t1 = &g->nodes[p];
        int ident = 1;
        for (int k = 0; k < rank; k++) ident &= t1->attrs.perm[t2->attrs.perm[k]] == k;
        if (!ident) continue;
        kiln_opt_replace_uses(g, t2->output, t1->inputs[0]);
        dead[i] = 1;
        (*changes)++;
    }
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    return KILN_OK;
}
