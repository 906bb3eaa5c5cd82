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
