/* Pass remove_identity: IDENTITY nodes (Dropout and other inference-time no-ops) and RESHAPEs whose output shape
 * equals their input shape compute y = x, so their readers can read x directly.
 *
 * A graph output keeps its value (and so its user-visible name): when the identity writes a graph output, the
 * producer of x is made to write that output instead, provided x has no other reader; otherwise the node stays
 * (it is a plain copy). */
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

static int same_shape(const kiln_value *a, const kiln_value *b)
{
    if (a->rank != b->rank) return 0;
    for (int d = 1; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

kiln_status kiln_pass_remove_identity(kiln_graph *g, int *changes)
{
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return kiln_fail(KILN_ERR_NO_MEMORY, "remove_identity: out of memory");
    kiln_status st = KILN_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const kiln_node *n = &g->nodes[i];
        int x = n->inputs[0], y = n->output;
        int is_identity = n->op == KILN_OP_IDENTITY ||
                          (n->op == KILN_OP_RESHAPE && same_shape(&g->values[x], &g->values[y]));
        if (!is_identity) continue;
        if (!kiln_opt_is_graph_output(g, y)) {
            kiln_opt_replace_uses(g, y, x);
            dead[i] = 1;
            (*changes)++;
            continue;
        }
        int p = g->values[x].producer;
        if (p >= 0 && !dead[p] && kiln_opt_use_count(g, x) == 1 && !kiln_opt_is_graph_output(g, x)) {
            st = kiln_opt_absorb(g, p, i, dead);
            (*changes)++;
        }
    }
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    return st;
}
