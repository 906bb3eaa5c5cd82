/* Shape inference of the ops the optimizer creates: SLICE (horizontal fusion) and SQUEEZE_EXCITE. */
#include <stdio.h>

#include "infer.h"
#include "status.h"

static int fail(const kiln_node *n, const char *why)
{
    kiln_diag_add("layer '%s' (%s): %s", n->name, kiln_op_name((kiln_op)n->op), why);
    return -1;
}

int kiln_infer_slice(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = &g->values[n->inputs[0]];
    const int ax = n->attrs.axis;
    if (x->rank < 2 || ax != x->rank - 1) return fail(n, "slice axis must be the last axis");
    const int64_t b = n->attrs.pads_begin[ax], e = n->attrs.pads_end[ax];
    if (b < 0 || e < 0 || b + e >= x->dims[ax]) return fail(n, "slice range empty or outside the input");
    *rank = x->rank;
    for (int d = 0; d < x->rank; d++) dims[d] = x->dims[d];
    dims[ax] = x->dims[ax] - b - e;
    return 0;
}

int kiln_infer_squeeze_excite(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = &g->values[n->inputs[0]];
    if (x->rank != 4) return fail(n, "input must be 4-D NHWC");
    const int64_t C = x->dims[3];
    const kiln_value *w1 = &g->values[n->inputs[1]], *b1 = &g->values[n->inputs[2]];
    const kiln_value *w2 = &g->values[n->inputs[3]], *b2 = &g->values[n->inputs[4]];
    if (w1->rank < 2 || w2->rank < 2) return fail(n, "weights must be [C,Cr] and [Cr,C]");
    const int64_t cr = w1->dims[w1->rank - 1];
    if (kiln_value_numel(w1) != C * cr || w1->dims[w1->rank - 2] != C) return fail(n, "first weights must be [C,Cr]");
    if (kiln_value_numel(w2) != cr * C || w2->dims[w2->rank - 1] != C || w2->dims[w2->rank - 2] != cr)
        return fail(n, "second weights must be [Cr,C]");
    if (kiln_value_numel(b1) != cr || kiln_value_numel(b2) != C) return fail(n, "bias sizes differ from the weights");
    *rank = 4;
    for (int d = 0; d < 4; d++) dims[d] = x->dims[d];
    return 0;
}
