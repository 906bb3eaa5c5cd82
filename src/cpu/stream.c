/* Row streaming of an expansion 1x1 conv into the depthwise conv after it (stream.h): which pairs, which kernels. */
#include "stream.h"

#include "dw_rows.h"
#include "opt_kernels.h"
#include "tactics.h"

static const kiln_value *in_of(const kiln_graph *g, int i, int j) { return &g->values[g->nodes[i].inputs[j]]; }

int kiln_stream_pair_ok(const kiln_graph *g, int i)
{
    if (i < 0 || i + 1 >= g->n_nodes) return 0;
    const kiln_node *e = &g->nodes[i], *d = &g->nodes[i + 1];
    if (e->op != KILN_OP_CONV2D || d->op != KILN_OP_CONV2D || e->n_inputs < 2 || e->n_inputs > 3 || d->n_inputs < 2)
        return 0;
    const kiln_value *x = in_of(g, i, 0), *ew = in_of(g, i, 1), *y = &g->values[e->output];
    const kiln_value *dw = in_of(g, i + 1, 1), *dy = &g->values[d->output];
    if (x->rank != 4 || y->rank != 4 || dy->rank != 4 || ew->rank != 4 || dw->rank != 4) return 0;
    if (ew->kind != KILN_VALUE_CONSTANT || dw->kind != KILN_VALUE_CONSTANT) return 0;
    for (int j = 2; j < d->n_inputs; j++)
        if (j == 2 && in_of(g, i + 1, j)->kind != KILN_VALUE_CONSTANT) return 0; /* bias; a residual (3) is fine */
    /* the expansion: 1x1, stride 1, no padding, one group, over the whole input */
    const kiln_attrs *ea = &e->attrs, *da = &d->attrs;
    if (ew->dims[0] != 1 || ew->dims[1] != 1 || ea->groups != 1 || ea->stride[0] != 1 || ea->stride[1] != 1 ||
        ea->pads[0] || ea->pads[1] || ea->pads[2] || ea->pads[3] || y->dims[1] != x->dims[1] || y->dims[2] != x->dims[2])
        return 0;
    /* the depthwise conv reads only it, and nothing else does */
    if (d->inputs[0] != e->output) return 0;
    for (int k = 0; k < g->n_nodes; k++)
        for (int j = 0; j < g->nodes[k].n_inputs; j++)
            if (g->nodes[k].inputs[j] == e->output && !(k == i + 1 && j == 0)) return 0;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == e->output) return 0;
    /* the depthwise geometry of the zero-column row sweep (dw_rows.inc DWR_ROW_Z) */
    const int64_t C = y->dims[3];
    if (dw->dims[2] != 1 || dw->dims[3] != C || da->groups != C || dy->dims[3] != C || C % 16) return 0;
    if (dw->dims[0] != dw->dims[1] || (dw->dims[0] != 3 && dw->dims[0] != 5)) return 0;
    if (da->stride[0] != da->stride[1] || (da->stride[0] != 1 && da->stride[0] != 2)) return 0;
    if (da->dilation[0] != 1 || da->dilation[1] != 1 || dy->dims[2] % 7) return 0;
    return 1;
}

int kiln_stream_tactics_ok(const kiln_graph *g, int i, int t_expand, int t_dw)
{
    if (!kiln_stream_pair_ok(g, i)) return 0;
#if defined(__x86_64__)
    const kiln_cpu_tactic *e = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_expand), *d = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_dw);
    if (!e || !d || !e->run || !d->run || !kiln_cpu_isa_runs(KILN_ISA_AVX512)) return 0;
    /* the AVX-512 gemm with 32- or 16-wide panels (their packing), the AVX-512 row sweep */
    return e->isa == KILN_ISA_AVX512 && (e->gemm_nr == 32 || e->gemm_nr == 16) && e->gemm_mr > 1 &&
           d->run == kiln_dwconv_rows_avx512;
#else
    (void)t_expand, (void)t_dw;
    return 0;
#endif
}

size_t kiln_stream_workspace(const kiln_graph *g, int i, int threads)
{
    const kiln_value *x = in_of(g, i, 0), *y = &g->values[g->nodes[i].output], *dw = in_of(g, i + 1, 1);
    const int64_t zero = (x->dims[3] + 15) / 16 * 16;
    const int64_t ring = ((dw->dims[0] * y->dims[2] * y->dims[3]) + 15) / 16 * 16;
    return (size_t)(zero + (threads < 1 ? 1 : threads) * ring) * sizeof(float);
}

void kiln_stream_run(int t_expand, const kiln_kernel_args *ea, const void *epacked, const kiln_kernel_args *da,
                     kiln_threadpool *pool)
{
#if defined(__x86_64__)
    const kiln_cpu_tactic *e = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_expand);
    kiln_expand_dw_avx512(ea, epacked, e->gemm_nr, da, pool);
#else
    (void)t_expand, (void)ea, (void)epacked, (void)da, (void)pool;
#endif
}
