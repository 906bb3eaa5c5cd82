/* Pass fold_batchnorm: a BatchNorm reading the output of a Conv2D or Dense (read by nothing else, no fused activation
 * yet) is folded into that layer's weights and bias.
 *
 * Per output channel c, with y = x·W + b the layer's output:
 *     BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta
 *   let s = gamma / sqrt(var + eps):
 *     BN(y) = x·(W * s) + ((b - mean) * s + beta)
 * so  W'[..., c] = W[..., c] * s[c]       (the output channel is the last axis of both Conv2D and Dense weights)
 *     b'[c]      = (b[c] - mean[c]) * s[c] + beta[c]      (b = 0 when the layer had no bias)
 * The products are formed in double and rounded once. The folded weights are new constants (the originals may be
 * shared with another call of the same Keras layer); compact drops the originals when nothing reads them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "opt.h"

static int is_const(const kiln_graph *g, int v)
{
    return g->values[v].kind == KILN_VALUE_CONSTANT && g->values[v].data != NULL;
}

/* Add a constant shaped like value `like`, named "<like's name> <suffix>"; takes ownership of data. */
static int add_const_like(kiln_graph *g, int like, const char *suffix, float *data)
{
    char name[512];
    snprintf(name, sizeof name, "%s %s", g->values[like].name, suffix);
    int64_t dims[KILN_MAX_RANK];
    int rank = g->values[like].rank;
    memcpy(dims, g->values[like].dims, sizeof dims);
    return kiln_graph_add_constant(g, name, rank, dims, data);
}

static kiln_status fold_one(kiln_graph *g, int p, int b, uint8_t *dead)
{
    kiln_node *P = &g->nodes[p];
    const kiln_node *B = &g->nodes[b];
    const kiln_value *w = &g->values[P->inputs[1]];
    int64_t cout = w->dims[w->rank - 1];
    int64_t wn = kiln_value_numel(w);
    const float *gamma = g->values[B->inputs[1]].data, *beta = g->values[B->inputs[2]].data;
    const float *mean = g->values[B->inputs[3]].data, *var = g->values[B->inputs[4]].data;
    const float *bias = P->n_inputs > 2 ? g->values[P->inputs[2]].data : NULL;
    double *s = malloc(sizeof(double) * (size_t)cout);
    float *nw = malloc(sizeof(float) * (size_t)wn);
    float *nb = malloc(sizeof(float) * (size_t)cout);
    if (!s || !nw || !nb) {
        free(s); free(nw); free(nb);
        return kiln_fail(KILN_ERR_NO_MEMORY, "fold_batchnorm: out of memory folding '%s'", B->name);
    }
    for (int64_t c = 0; c < cout; c++) {
        s[c] = (double)gamma[c] / sqrt((double)var[c] + (double)B->attrs.eps);
        nb[c] = (float)(((bias ? (double)bias[c] : 0.0) - (double)mean[c]) * s[c] + (double)beta[c]);
    }
    for (int64_t i = 0; i < wn; i++) nw[i] = (float)((double)w->data[i] * s[i % cout]);
    free(s);
    char suffix[300];
    snprintf(suffix, sizeof suffix, "(folded %s)", B->name);
    int bias_like = P->n_inputs > 2 ? P->inputs[2] : B->inputs[2]; /* beta has the bias's shape [C] */
    int wid = add_const_like(g, P->inputs[1], suffix, nw); /* may move g->values; w is stale from here on */
    int bid = wid < 0 ? -1 : add_const_like(g, bias_like, suffix, nb);
    if (wid < 0) free(nb);
    if (wid < 0 || bid < 0) return kiln_fail(KILN_ERR_NO_MEMORY, "fold_batchnorm: out of memory folding '%s'", B->name);
    P->inputs[1] = wid;
    P->inputs[2] = bid;
    P->n_inputs = 3;
    return kiln_opt_absorb(g, p, b, dead);
}

kiln_status kiln_pass_fold_batchnorm(kiln_graph *g, int *changes)
{
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) return kiln_fail(KILN_ERR_NO_MEMORY, "fold_batchnorm: out of memory");
    kiln_status st = KILN_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const kiln_node *B = &g->nodes[i];
        if (B->op != KILN_OP_BATCHNORM) continue;
        int x = B->inputs[0], p = g->values[x].producer;
        if (p < 0 || dead[p]) continue;
        const kiln_node *P = &g->nodes[p];
        if (P->op != KILN_OP_CONV2D && P->op != KILN_OP_DENSE) continue;
        if (P->attrs.act.kind != KILN_ACT_NONE || P->n_inputs > 3) continue; /* no activation, no residual yet */
        if (kiln_opt_use_count(g, x) != 1 || kiln_opt_is_graph_output(g, x)) continue;
        int all_const = is_const(g, P->inputs[1]) && (P->n_inputs < 3 || is_const(g, P->inputs[2]));
        for (int j = 1; j < 5; j++) all_const &= is_const(g, B->inputs[j]);
        if (!all_const) continue;
        st = fold_one(g, p, i, dead);
        if (!st) (*changes)++;
    }
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    return st;
}
