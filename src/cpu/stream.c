/* Row streaming of an expansion 1x1 conv into the depthwise conv after it (stream.h): which pairs, which kernels. */
#include "stream.h"

#include "conv_amx.h"
#include "conv_direct.h"
#include "cpu_features.h"
#include "dw_rows.h"
#include "opt_kernels.h"
#include "tactics.h"

static const kiln_value *in_of(const kiln_graph *g, int i, int j) { return &g->values[g->nodes[i].inputs[j]]; }

/* 1 when value v is read only as input `slot` of node `reader` and is not a graph output (a fused step may then
 * keep it out of memory). */
static int only_reader(const kiln_graph *g, int v, int reader, int slot)
{
    for (int k = 0; k < g->n_nodes; k++)
        for (int j = 0; j < g->nodes[k].n_inputs; j++)
            if (g->nodes[k].inputs[j] == v && !(k == reader && j == slot)) return 0;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) return 0;
    return 1;
}

int kiln_stream_stem(const kiln_graph *g, int i)
{
    return i >= 0 && i < g->n_nodes && g->nodes[i].op == KILN_OP_CONV2D && g->nodes[i].n_inputs <= 3 &&
           kiln_conv_direct_supports(g, &g->nodes[i]);
}

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
    /* the expansion: 1x1, stride 1, no padding, one group, over the whole input; or a stem (any window, stride and
     * padding: the direct kernel computes an output row from the input rows its window covers) */
    const kiln_attrs *ea = &e->attrs, *da = &d->attrs;
    if (!kiln_stream_stem(g, i) &&
        (ew->dims[0] != 1 || ew->dims[1] != 1 || ea->groups != 1 || ea->stride[0] != 1 || ea->stride[1] != 1 ||
         ea->pads[0] || ea->pads[1] || ea->pads[2] || ea->pads[3] || y->dims[1] != x->dims[1] ||
         y->dims[2] != x->dims[2]))
        return 0;
    /* the depthwise conv reads only it, and nothing else does */
    if (d->inputs[0] != e->output || !only_reader(g, e->output, i + 1, 0)) return 0;
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
    /* the AVX-512 gemm with 32- or 16-wide panels (their packing), or for a stem the AVX-512 direct kernel; the
     * AVX-512 row sweep */
    if (d->run != kiln_dwconv_rows_avx512) return 0;
    if (kiln_stream_stem(g, i)) return e->run == kiln_conv_direct_avx512;
    return e->isa == KILN_ISA_AVX512 && (e->gemm_nr == 32 || e->gemm_nr == 16) && e->gemm_mr > 1;
#else
    (void)t_expand, (void)t_dw;
    return 0;
#endif
}

int kiln_stream_csplit(const kiln_graph *g, int i, int nr, int threads)
{
    if (threads < 2 || nr < 1) return 0;
    const kiln_value *y = &g->values[g->nodes[i].output], *dw = in_of(g, i + 1, 1);
    const kiln_value *d = &g->values[g->nodes[i + 1].output];
    const int64_t H = y->dims[1], W = y->dims[2], C = y->dims[3], OH = d->dims[1];
    const int KH = (int)dw->dims[0], SH = g->nodes[i + 1].attrs.stride[0], mr = nr == 16 ? 16 : 14;
    const int64_t panels = (C + nr - 1) / nr;
    /* the whole map in a thread's buffer stays in its L2, with room for the panels' weights: at most 3/4 of it (Zen 4's
     * 1 MiB L2 with half of it lost EfficientNet-B0's 14x14x672 pairs to the row split: 1.6% slower) */
    if (panels < threads || H * W * C * (int64_t)sizeof(float) > kiln_cpu_l2_bytes() / 4 * 3) return 0;
    /* the slowest thread's work, relative to an even split without waste: rows: the recomputed rows, the row
     * imbalance, and the one-row gemm's tiles (7-pixel rows fill half of a 14-row tile) against the whole map's */
    const double halo = (double)(threads - 1) * (KH > SH ? KH - SH : 0) / (double)H;
    const double row_imb = (double)((OH + threads - 1) / threads) * threads / (double)OH;
    const double row_tiles = (double)((W + mr - 1) / mr * mr) / (double)W;
    const double map_tiles = (double)((H * W + mr - 1) / mr * mr) / (double)(H * W);
    const double row_cost = (1.0 + halo) * row_imb * row_tiles / map_tiles;
    const double ch_cost = (double)((panels + threads - 1) / threads) * threads / (double)panels;
    return ch_cost < row_cost;
}

/* Expansion rows a thread's buffer holds: a ring of KH, or the whole map when a pair may split channels. */
static int64_t ring_rows(const kiln_graph *g, int i, int threads, int triple)
{
    const int64_t KH = in_of(g, i + 1, 1)->dims[0], H = g->values[g->nodes[i].output].dims[1];
    if (triple || kiln_stream_stem(g, i) ||
        !(kiln_stream_csplit(g, i, 16, threads) || kiln_stream_csplit(g, i, 32, threads)))
        return KH;
    return H > KH ? H : KH;
}

static size_t stream_workspace(const kiln_graph *g, int i, int threads, int triple)
{
    const kiln_value *y = &g->values[g->nodes[i].output];
    const int64_t zero = kiln_gemm_padded_offset(g, &g->nodes[i]); /* the expansion's zero row */
    const int64_t ring = ((ring_rows(g, i, threads, triple) * y->dims[2] * y->dims[3]) + 15) / 16 * 16;
    return (size_t)(zero + (threads < 1 ? 1 : threads) * ring) * sizeof(float);
}

size_t kiln_stream_workspace(const kiln_graph *g, int i, int threads) { return stream_workspace(g, i, threads, 0); }

void kiln_stream_run(int t_expand, const kiln_kernel_args *ea, const void *epacked, const kiln_kernel_args *da,
                     int t_project, const kiln_kernel_args *pa, const void *ppacked, kiln_threadpool *pool)
{
#if defined(__x86_64__)
    const kiln_cpu_tactic *e = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_expand);
    const kiln_cpu_tactic *p = pa ? kiln_cpu_tactic_get(KILN_OP_CONV2D, t_project) : NULL;
    const kiln_graph *g = ea->g;
    const int i = (int)(ea->node - g->nodes), threads = kiln_threadpool_size(pool);
    const int stem = kiln_stream_stem(g, i);
    const int csplit = !pa && !stem && kiln_stream_csplit(g, i, e->gemm_nr, threads);
    kiln_expand_dw_avx512(ea, epacked, e->gemm_nr, da, pa, ppacked, p ? p->gemm_nr : 0, csplit,
                          ring_rows(g, i, threads, pa != NULL), stem, pool);
#else
    (void)t_expand, (void)ea, (void)epacked, (void)da, (void)t_project, (void)pa, (void)ppacked, (void)pool;
#endif
}

int kiln_stream_triple_ok(const kiln_graph *g, int i)
{
    if (!kiln_stream_pair_ok(g, i) || i + 2 >= g->n_nodes) return 0;
    const kiln_node *d = &g->nodes[i + 1], *p = &g->nodes[i + 2];
    if (p->op != KILN_OP_CONV2D || p->n_inputs < 2 || p->inputs[0] != d->output) return 0;
    const kiln_value *w = in_of(g, i + 2, 1), *x = &g->values[d->output], *y = &g->values[p->output];
    if (w->rank != 4 || w->kind != KILN_VALUE_CONSTANT || y->rank != 4) return 0;
    const kiln_attrs *a = &p->attrs;
    if (w->dims[0] != 1 || w->dims[1] != 1 || w->dims[2] != x->dims[3] || a->groups != 1 || a->stride[0] != 1 ||
        a->stride[1] != 1 || a->pads[0] || a->pads[1] || a->pads[2] || a->pads[3] || y->dims[1] != x->dims[1] ||
        y->dims[2] != x->dims[2])
        return 0;
    if (p->n_inputs > 2 && in_of(g, i + 2, 2)->kind != KILN_VALUE_CONSTANT) return 0;
    for (int j = 3; j < p->n_inputs; j++) /* a residual: complete before the triple starts */
        if (in_of(g, i + 2, j)->producer >= i) return 0;
    return only_reader(g, d->output, i + 2, 0);
}

int kiln_stream_triple_tactics_ok(const kiln_graph *g, int i, int t_expand, int t_dw, int t_project)
{
    if (!kiln_stream_triple_ok(g, i) || !kiln_stream_tactics_ok(g, i, t_expand, t_dw)) return 0;
    const kiln_cpu_tactic *p = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_project);
    return p && p->run && p->isa == KILN_ISA_AVX512 && (p->gemm_nr == 32 || p->gemm_nr == 16) && p->gemm_mr > 1;
}

size_t kiln_stream_workspace3(const kiln_graph *g, int i, int threads)
{
    const kiln_value *d = &g->values[g->nodes[i + 1].output];
    const int64_t row = (d->dims[2] * d->dims[3] + 15) / 16 * 16;
    return stream_workspace(g, i, threads, 1) + (size_t)((threads < 1 ? 1 : threads) * row) * sizeof(float);
}

/* ---- squeeze-excite folding ------------------------------------------------------------------------------------ */

int kiln_se_fold_pair_ok(const kiln_graph *g, int i)
{
    if (i < 0 || i + 1 >= g->n_nodes) return 0;
    const kiln_node *se = &g->nodes[i], *c = &g->nodes[i + 1];
    if (se->op != KILN_OP_SQUEEZE_EXCITE || se->n_inputs != 5 || c->op != KILN_OP_CONV2D || c->n_inputs < 2) return 0;
    for (int j = 1; j < 5; j++)
        if (in_of(g, i, j)->kind != KILN_VALUE_CONSTANT) return 0;
    const kiln_value *x = in_of(g, i, 0), *s = &g->values[se->output], *w = in_of(g, i + 1, 1);
    const kiln_value *y = &g->values[c->output];
    if (x->rank != 4 || s->rank != 4 || y->rank != 4 || w->rank != 4 || w->kind != KILN_VALUE_CONSTANT) return 0;
    if (c->n_inputs > 2 && in_of(g, i + 1, 2)->kind != KILN_VALUE_CONSTANT) return 0;
    const kiln_attrs *a = &c->attrs;
    if (w->dims[0] != 1 || w->dims[1] != 1 || w->dims[2] != x->dims[3] || a->groups != 1 || a->stride[0] != 1 ||
        a->stride[1] != 1 || a->pads[0] || a->pads[1] || a->pads[2] || a->pads[3] || y->dims[1] != x->dims[1] ||
        y->dims[2] != x->dims[2] || c->inputs[0] != se->output)
        return 0;
    return only_reader(g, se->output, i + 1, 0);
}

typedef void (*gates_fn)(const kiln_kernel_args *a, kiln_threadpool *pool);

static gates_fn gates_of(int t_se)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get(KILN_OP_SQUEEZE_EXCITE, t_se);
    if (!k || !k->run) return NULL;
#if defined(__x86_64__)
    if (k->run == kiln_squeeze_excite_avx512) return kiln_squeeze_excite_gates_avx512;
    if (k->run == kiln_squeeze_excite_avx2) return kiln_squeeze_excite_gates_avx2;
#endif
#if defined(__aarch64__)
    if (k->run == kiln_squeeze_excite_neon) return kiln_squeeze_excite_gates_neon;
#endif
    if (k->run == kiln_squeeze_excite_generic) return kiln_squeeze_excite_gates_generic;
    return NULL;
}

int kiln_se_fold_tactics_ok(const kiln_graph *g, int i, int t_se, int t_conv)
{
    if (!kiln_se_fold_pair_ok(g, i) || !gates_of(t_se)) return 0;
    const kiln_cpu_tactic *c = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_conv);
    /* a gemm tactic (packed panels, MR rows): not Winograd, not the direct stem kernels; or AMX, which multiplies
     * by the gates as it splits the input */
    return c && c->run && ((c->gemm_nr > 0 && c->gemm_mr > 0) || kiln_amx_is(c->run));
}

/* Bytes of the conv's part (gemm: zero row + per-thread scratch; AMX: its own workspace), where the
 * squeeze-excite's part starts. */
static size_t conv_part(const kiln_graph *g, int i, int t_conv, int batch, int threads)
{
    const kiln_node *c = &g->nodes[i + 1];
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_conv);
    if (k && k->run && kiln_amx_is(k->run)) return (kiln_amx_workspace(g, c, batch) + 63) / 64 * 64;
    const int64_t cin = in_of(g, i + 1, 0)->dims[3];
    return ((size_t)(kiln_gemm_padded_offset(g, c) + (threads < 1 ? 1 : threads) * KILN_GEMM_SCALE_FLOATS(cin)) *
                sizeof(float) + 63) / 64 * 64;
}

size_t kiln_se_fold_workspace(const kiln_graph *g, int i, int t_conv, int batch, int threads)
{
    return conv_part(g, i, t_conv, batch, threads) + kiln_ref_squeeze_excite_workspace(g, &g->nodes[i], batch);
}

void kiln_se_fold_run(int t_se, int t_conv, const kiln_kernel_args *sa, const kiln_kernel_args *ca,
                      const void *cpacked, kiln_threadpool *pool)
{
    const kiln_graph *g = sa->g;
    const int i = (int)(sa->node - g->nodes);
    const size_t part = conv_part(g, i, t_conv, sa->batch, kiln_threadpool_size(pool));
    kiln_kernel_args s = *sa, c = *ca;
    s.workspace = (char *)ca->workspace + part;
    gates_of(t_se)(&s, pool);
    /* the gates: after s[N, C] and h[N, Cr] in the squeeze-excite's workspace (simd_kernels.inc) */
    const int64_t N = sa->batch, C = in_of(g, i, 0)->dims[3], Cr = in_of(g, i, 1)->dims[in_of(g, i, 1)->rank - 1];
    const float *gates = (const float *)((char *)s.workspace + ((size_t)(N * C) * sizeof(float) + 63) / 64 * 64 +
                                         ((size_t)(N * Cr) * sizeof(float) + 63) / 64 * 64);
    c.in[0] = sa->in[0];
    c.in_pitch[0] = sa->in_pitch[0];
    c.in0_scale = gates;
    kiln_cpu_tactic_run(t_conv, &c, cpacked, pool);
}
