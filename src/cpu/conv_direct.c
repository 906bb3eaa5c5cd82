/* What the direct small-Cin convolution kernels support (conv_direct.h); compiled for the baseline ISA because the
 * tactic registry asks it on any CPU. */
#include "conv_direct.h"

int kiln_conv_direct_supports(const kiln_graph *g, const kiln_node *n)
{
    if (n->op != KILN_OP_CONV2D || n->n_inputs < 2 || n->attrs.groups != 1) return 0;
    for (int i = 1; i < n->n_inputs && i < 3; i++)
        if (g->values[n->inputs[i]].kind != KILN_VALUE_CONSTANT) return 0;
    const kiln_value *x = &g->values[n->inputs[0]], *w = &g->values[n->inputs[1]];
    if (x->rank != 4 || w->rank != 4 || g->values[n->output].rank != 4) return 0;
    return w->dims[2] == x->dims[3] && x->dims[3] >= 1 && x->dims[3] <= KILN_DIRECT_MAX_CIN &&
           w->dims[0] * w->dims[1] <= KILN_GEMM_MAX_TAPS;
}
