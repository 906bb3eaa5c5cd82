/* Pass fuse_residual: y = Add(c, r) where c = Conv2D(x) (no fused activation yet, read only by this Add) becomes the
 * conv's epilogue: the conv gets r as a 4th input and writes y itself,
 *
 *     y = act(sum + bias + r)          (src/cpu/ref/conv.c; the Add's fused activation, if any, moves along)
 *
 * the same float operations in the same order as the conv, then the Add (then the activation, which
 * fuse_activation fuses next when it is still a separate node). A conv without a bias gets a zero bias (adding +0 to
 * a float changes nothing but -0). The conv must run after r exists: of the Add's two inputs, the conv computed
 * later is chosen, and the other input must be computed before it. Both inputs have the Add's output shape (no
 * broadcast). Name: "conv2d_7 + batch_normalization_7 + add_1". */
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

static int candidate(const kiln_graph *g, const kiln_node *add, int k, const uint8_t *dead)
{
    int c = add->inputs[k], r = add->inputs[1 - k];
    int p = g->values[c].producer;
    if (p < 0 || dead[p] || c == r) return -1;
    const kiln_node *P = &g->nodes[p];
    if (P->op != KILN_OP_CONV2D || P->n_inputs > 3 || P->attrs.act.kind != KILN_ACT_NONE) return -1;
    if (!kiln_opt_single_reader(g, c)) return -1;
    if (g->values[r].kind != KILN_VALUE_ACTIVATION || g->values[r].producer >= p) return -1;
    const kiln_value *rv = &g->values[r], *ov = &g->values[add->output];
    if (rv->rank != 4 || ov->rank != 4) return -1;
    for (int d = 1; d < 4; d++)
        if (rv->dims[d] != ov->dims[d] || g->values[c].dims[d] != ov->dims[d]) return -1;
    return p;
}

kiln_status kiln_pass_fuse_residual(kiln_graph *g, int *changes)
{
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_residual: out of memory");
    kiln_status st = KILN_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        if (g->nodes[i].op != KILN_OP_ADD || dead[i]) continue;
        int p0 = candidate(g, &g->nodes[i], 0, dead), p1 = candidate(g, &g->nodes[i], 1, dead);
        int k = p1 > p0 ? 1 : 0; /* the later conv (its other input then exists before it) */
        int p = k ? p1 : p0;
        if (p < 0) continue;
        if (kiln_opt_ensure_bias(g, p)) {
            st = KILN_ERR_NO_MEMORY;
            break;
        }
        kiln_node *P = &g->nodes[p], *A = &g->nodes[i];
        P->inputs[3] = A->inputs[1 - k];
        P->n_inputs = 4;
        P->attrs.act = A->attrs.act;
        st = kiln_opt_absorb(g, p, i, dead);
        if (!st) (*changes)++;
    }
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    return st;
}
