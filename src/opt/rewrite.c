/* Small graph-editing helpers the passes share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "opt.h"

int kiln_opt_is_graph_output(const kiln_graph *g, int v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v) return 1;
    return 0;
}

int kiln_opt_is_graph_input(const kiln_graph *g, int v)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v) return 1;
    return 0;
}

int kiln_opt_use_count(const kiln_graph *g, int v)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++)
            n += g->nodes[i].inputs[j] == v;
    for (int i = 0; i < g->n_outputs; i++) n += g->outputs[i] == v;
    return n;
}

void kiln_opt_replace_uses(kiln_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++)
            if (g->nodes[i].inputs[j] == from) g->nodes[i].inputs[j] = to;
}

kiln_status kiln_opt_absorb(kiln_graph *g, int keep, int drop, uint8_t *dead)
{
    kiln_node *k = &g->nodes[keep], *d = &g->nodes[drop];
    size_t len = strlen(k->name) + strlen(d->name) + 4;
    char *name = malloc(len);
    if (!name) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory fusing '%s' into '%s'", d->name, k->name);
    snprintf(name, len, "%s + %s", k->name, d->name);
    free(k->name);
    k->name = name;
    g->values[k->output].producer = -1; /* the old intermediate: now unread and unproduced, compact drops it */
    k->output = d->output;
    g->values[d->output].producer = keep;
    dead[drop] = 1;
    return KILN_OK;
}

void kiln_opt_remove_nodes(kiln_graph *g, const uint8_t *dead)
{
    /* A dead node's own output (an identity's, unread after rewiring) loses its producer first. */
    for (int i = 0; i < g->n_nodes; i++)
        if (dead[i] && g->values[g->nodes[i].output].producer == i) g->values[g->nodes[i].output].producer = -1;
    int nn = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (dead[i]) {
            free(g->nodes[i].name);
            continue;
        }
        /* Nodes only move down, so this never overwrites a node not yet visited. */
        g->nodes[nn] = g->nodes[i];
        g->values[g->nodes[nn].output].producer = nn;
        nn++;
    }
    g->n_nodes = nn;
}

int kiln_opt_is_const(const kiln_graph *g, int v)
{
    return g->values[v].kind == KILN_VALUE_CONSTANT && g->values[v].data != NULL;
}

int kiln_opt_single_reader(const kiln_graph *g, int v)
{
    return kiln_opt_use_count(g, v) == 1 && !kiln_opt_is_graph_output(g, v);
}

int kiln_opt_reader(const kiln_graph *g, int v)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++)
            if (g->nodes[i].inputs[j] == v) return i;
    return -1;
}

char *kiln_opt_join(const char *a, const char *sep, const char *b)
{
    size_t len = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s%s%s", a, sep, b);
    return s;
}

kiln_status kiln_opt_prepend_name(kiln_node *n, const char *src)
{
    char *name = kiln_opt_join(src, " + ", n->name);
    if (!name) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory fusing '%s' into '%s'", src, n->name);
    free(n->name);
    n->name = name;
    return KILN_OK;
}

int kiln_opt_add_const(kiln_graph *g, const char *base, const char *suffix, int rank, const int64_t *dims, float *data)
{
    char name[600];
    snprintf(name, sizeof name, "%s %s", base, suffix);
    int64_t d[KILN_MAX_RANK] = { 0 };
    memcpy(d, dims, sizeof(int64_t) * (size_t)rank);
    int id = kiln_graph_add_constant(g, name, rank, d, data);
    if (id < 0) kiln_fail(KILN_ERR_NO_MEMORY, "optimizer: out of memory adding constant '%s'", name);
    return id;
}

int kiln_opt_ensure_bias(kiln_graph *g, int n)
{
    if (g->nodes[n].n_inputs > 2) return 0;
    const kiln_value *w = &g->values[g->nodes[n].inputs[1]];
    int64_t c = w->dims[w->rank - 1];
    float *z = calloc((size_t)c, sizeof(float));
    if (!z) {
        kiln_fail(KILN_ERR_NO_MEMORY, "optimizer: out of memory");
        return -1;
    }
    char base[512];
    snprintf(base, sizeof base, "%s", g->nodes[n].name);
    int id = kiln_opt_add_const(g, base, "(zero bias)", 1, &c, z);
    if (id < 0) return -1;
    g->nodes[n].inputs[2] = id;
    g->nodes[n].n_inputs = 3;
    return 0;
}

void kiln_opt_move_tail(kiln_graph *g, int count, int pos)
{
    if (count <= 0 || pos >= g->n_nodes - count) return;
    kiln_node *tmp = malloc(sizeof(kiln_node) * (size_t)count);
    if (!tmp) return; /* cannot happen in practice; leaving order unchanged is caught by the check */
    memcpy(tmp, &g->nodes[g->n_nodes - count], sizeof(kiln_node) * (size_t)count);
    memmove(&g->nodes[pos + count], &g->nodes[pos], sizeof(kiln_node) * (size_t)(g->n_nodes - count - pos));
    memcpy(&g->nodes[pos], tmp, sizeof(kiln_node) * (size_t)count);
    free(tmp);
    for (int i = 0; i < g->n_nodes; i++) g->values[g->nodes[i].output].producer = i;
}

/* Activations whose every output is >= 0. ReLU is y = x > t ? min(x, max) : slope * (x - t): with slope 0 and
 * threshold t >= 0 it only gives 0 or values above t >= 0. */
static int act_nonnegative(const kiln_act *a)
{
    switch (a->kind) {
    case KILN_ACT_RELU: return a->alpha == 0.0f && a->gamma >= 0.0f;
    case KILN_ACT_SIGMOID:
    case KILN_ACT_HARD_SIGMOID:
    case KILN_ACT_SOFTPLUS:
    case KILN_ACT_EXP: return 1;
    default: return 0;
    }
}

int kiln_opt_output_nonnegative(const kiln_graph *g, int v)
{
    int p = g->values[v].producer;
    if (p < 0) return 0;
    const kiln_node *n = &g->nodes[p];
    if (act_nonnegative(&n->attrs.act)) return 1;
    /* max pooling of a non-negative tensor stays non-negative */
    if (n->op == KILN_OP_MAXPOOL || n->op == KILN_OP_AVGPOOL) return kiln_opt_output_nonnegative(g, n->inputs[0]);
    return 0;
}
