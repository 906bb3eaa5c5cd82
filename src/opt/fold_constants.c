/* Pass fold_constants: a node whose inputs are all constants computes the same numbers on every run, so it is
 * computed once now, with its reference kernel (the oracle every tactic is tested against), into a new constant.
 *
 * Batch rule: the node runs for one sample. An activation's dims[0] stands for the batch, a constant's dims are
 * literal, so the folded constant [1, d1, ...] replaces the activation only where the two mean the same numbers:
 *   - a binary elementwise op (Add, Sub, Mul, Div, Max, Min) whose output has the value's rank: axis 0 lines up with
 *     the batch axis and a size-1 axis broadcasts, i.e. the one sample is reused for every sample, as before;
 *   - a weight input (input 1 or later) of Conv2D / Dense / BatchNorm / SqueezeExcite, which always read literal dims.
 * Readers of other kinds keep reading the node's output (the node then stays). Graph outputs are never folded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "../cpu/kernel.h"
#include "opt.h"

static int is_binary(int op)
{
    return op == KILN_OP_ADD || op == KILN_OP_SUB || op == KILN_OP_MUL || op == KILN_OP_DIV || op == KILN_OP_MAX ||
           op == KILN_OP_MIN;
}

static int is_weight_slot(int op, int j)
{
    return j >= 1 && (op == KILN_OP_CONV2D || op == KILN_OP_DENSE || op == KILN_OP_BATCHNORM ||
                      op == KILN_OP_SQUEEZE_EXCITE);
}

/* May reader r's input j read the folded constant instead of activation v? */
static int slot_ok(const kiln_graph *g, const kiln_node *r, int j, int v)
{
    if (is_weight_slot(r->op, j)) return j != 3 || r->op != KILN_OP_CONV2D; /* a conv's residual is an activation */
    return is_binary(r->op) && g->values[r->output].rank == g->values[v].rank;
}

kiln_status kiln_pass_fold_constants(kiln_graph *g, int *changes)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        int all_const = n->n_inputs > 0;
        for (int j = 0; j < n->n_inputs; j++) all_const &= kiln_opt_is_const(g, n->inputs[j]);
        int v = n->output;
        if (!all_const || kiln_opt_is_graph_output(g, v)) continue;
        int any = 0;
        for (int r = 0; r < g->n_nodes; r++)
            for (int j = 0; j < g->nodes[r].n_inputs; j++)
                any |= g->nodes[r].inputs[j] == v && slot_ok(g, &g->nodes[r], j, v);
        if (!any) continue;
        size_t ws = kiln_ref_workspace_bytes(g, n, 1);
        float *data = malloc(sizeof(float) * (size_t)kiln_value_numel(&g->values[v]) + 1);
        void *work = ws ? aligned_alloc(64, (ws + 63) / 64 * 64) : NULL;
        if (!data || (ws && !work)) {
            free(data);
            free(work);
            return kiln_fail(KILN_ERR_NO_MEMORY, "fold_constants: out of memory folding '%s'", n->name);
        }
        kiln_kernel_args a;
        memset(&a, 0, sizeof a);
        a.g = g;
        a.node = n;
        a.batch = 1;
        for (int j = 0; j < n->n_inputs; j++) a.in[j] = g->values[n->inputs[j]].data;
        a.out = data;
        a.workspace = work;
        kiln_ref_kernel((kiln_op)n->op)(&a);
        free(work);
        int64_t dims[KILN_MAX_RANK];
        memcpy(dims, g->values[v].dims, sizeof dims);
        char base[512];
        snprintf(base, sizeof base, "%s", g->values[v].name);
        int c = kiln_opt_add_const(g, base, "(folded)", g->values[v].rank, dims, data); /* may move g->values */
        if (c < 0) return KILN_ERR_NO_MEMORY;
        for (int r = 0; r < g->n_nodes; r++)
            for (int j = 0; j < g->nodes[r].n_inputs; j++)
                if (g->nodes[r].inputs[j] == v && slot_ok(g, &g->nodes[r], j, v)) g->nodes[r].inputs[j] = c;
        (*changes)++;
    }
    return KILN_OK; /* nodes nobody reads any more are dropped by compact */
}
