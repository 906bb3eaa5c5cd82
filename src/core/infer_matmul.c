/* Shape inference of MATMUL (ops.def): NumPy matmul of two rank >= 2 tensors, leading axes broadcast. */
#include "infer.h"
#include "status.h"

static int fail(const kiln_node *n, const char *why)
{
    kiln_diag_add("layer '%s' (%s): %s", n->name, kiln_op_name((kiln_op)n->op), why);
    return -1;
}

int kiln_infer_matmul(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *v[2] = { &g->values[n->inputs[0]], &g->values[n->inputs[1]] };
    if (v[0]->rank < 2 || v[1]->rank < 2) return fail(n, "both inputs need at least 2 axes");
    if (v[0]->dims[v[0]->rank - 1] != v[1]->dims[v[1]->rank - 2])
        return fail(n, "the inner dimensions differ (A[..., M, K] x B[..., K, N])");
    if (v[0]->kind == KILN_VALUE_CONSTANT && v[1]->kind == KILN_VALUE_CONSTANT)
        return fail(n, "both inputs are constants (fold them first)");
    const int r = v[0]->rank > v[1]->rank ? v[0]->rank : v[1]->rank;
    for (int i = 0; i < 2; i++) {
        /* an activation's axis 0 is the batch: it must be the result's axis 0, and no constant may vary along it */
        if (v[i]->kind == KILN_VALUE_ACTIVATION && v[i]->rank != r)
            return fail(n, "an activation input has fewer axes than the result (its batch would not come first)");
        if (v[i]->kind == KILN_VALUE_CONSTANT && v[i]->rank == r && v[i]->dims[0] != 1)
            return fail(n, "a constant input varies along the batch axis");
    }
    for (int d = 0; d < r - 2; d++) {
        int64_t out = 1;
        for (int i = 0; i < 2; i++) {
            const int j = v[i]->rank - r + d;
            const int64_t e = j >= 0 ? v[i]->dims[j] : 1;
            if (e != 1 && out != 1 && e != out) return fail(n, "the leading axes cannot be broadcast together");
            if (e != 1) out = e;
        }
        dims[d] = out;
    }
    dims[r - 2] = v[0]->dims[v[0]->rank - 2];
    dims[r - 1] = v[1]->dims[v[1]->rank - 1];
    *rank = r;
    return 0;
}
