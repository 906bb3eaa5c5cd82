#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s ? s : "", n);
    return d;
}

kiln_graph *kiln_graph_new(void) { return calloc(1, sizeof(kiln_graph)); }

void kiln_graph_free(kiln_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        if (g->values[i].owns_data) free(g->values[i].data);
    }
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].name);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g);
}

static int grow(void **arr, int32_t *cap, int32_t need, size_t elem)
{
    if (need <= *cap) return 0;
    int32_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static int new_value(kiln_graph *g, const char *name, int kind, int rank, const int64_t *dims)
{
    if (rank < 0 || rank > KILN_MAX_RANK) {
        kiln_diag_add("value '%s': rank %d is above the supported %d", name, rank, KILN_MAX_RANK);
        return -1;
    }
    if (grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(kiln_value))) {
        kiln_diag_add("out of memory adding value '%s'", name);
        return -1;
    }
    kiln_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof(*v));
    v->name = dup_str(name);
    if (!v->name) return -1;
    v->kind = kind;
    v->dtype = KILN_DTYPE_F32;
    v->rank = rank;
    for (int i = 0; i < rank; i++) v->dims[i] = dims[i];
    v->producer = -1;
    return g->n_values++;
}

int kiln_graph_add_input(kiln_graph *g, const char *name, int rank, const int64_t *dims)
{
    int id = new_value(g, name, KILN_VALUE_ACTIVATION, rank, dims);
    if (id < 0) return -1;
    int32_t *p = realloc(g->inputs, sizeof(int32_t) * (size_t)(g->n_inputs + 1));
    if (!p) return -1;
    g->inputs = p;
    g->inputs[g->n_inputs++] = id;
    return id;
}

int kiln_graph_add_constant(kiln_graph *g, const char *name, int rank, const int64_t *dims, float *data)
{
    int id = new_value(g, name, KILN_VALUE_CONSTANT, rank, dims);
    if (id < 0) {
        free(data);
        return -1;
    }
    g->values[id].data = data;
    g->values[id].owns_data = 1;
    return id;
}

int kiln_graph_add_node(kiln_graph *g, kiln_op op, const char *name, const int *inputs, int n_inputs,
                        const kiln_attrs *attrs)
{
    if ((int)op < 0 || op >= KILN_OP_COUNT) {
        kiln_diag_add("layer '%s': op %d out of range", name, (int)op);
        return -1;
    }
    if (n_inputs < kiln_op_min_inputs(op) || n_inputs > kiln_op_max_inputs(op)) {
        kiln_diag_add("layer '%s': %s takes %d to %d inputs, got %d", name, kiln_op_name(op), kiln_op_min_inputs(op),
                      kiln_op_max_inputs(op), n_inputs);
        return -1;
    }
    for (int i = 0; i < n_inputs; i++) {
        if (inputs[i] < 0 || inputs[i] >= g->n_values) {
            kiln_diag_add("layer '%s': input %d refers to a missing tensor", name, i);
            return -1;
        }
    }
    kiln_node n;
    memset(&n, 0, sizeof(n));
    n.op = op;
    n.n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) n.inputs[i] = inputs[i];
    if (attrs) n.attrs = *attrs;
    else kiln_attrs_init(&n.attrs);
    n.name = (char *)name; /* borrowed during inference for messages */
    int rank;
    int64_t dims[KILN_MAX_RANK];
    if (kiln_infer_node(g, &n, &rank, dims)) return -1;
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(kiln_node))) return -1;
    int vid = new_value(g, name, KILN_VALUE_ACTIVATION, rank, dims);
    if (vid < 0) return -1;
    n.name = dup_str(name);
    if (!n.name) return -1;
    n.output = vid;
    g->values[vid].producer = g->n_nodes;
    g->nodes[g->n_nodes++] = n;
    return vid;
}

int kiln_graph_mark_output(kiln_graph *g, int value_id)
{
    if (value_id < 0 || value_id >= g->n_values) return -1;
    int32_t *p = realloc(g->outputs, sizeof(int32_t) * (size_t)(g->n_outputs + 1));
    if (!p) return -1;
    g->outputs = p;
    g->outputs[g->n_outputs++] = value_id;
    return 0;
}

int64_t kiln_value_numel(const kiln_value *v)
{
    int64_t n = 1;
    for (int i = v->kind == KILN_VALUE_ACTIVATION ? 1 : 0; i < v->rank; i++) n *= v->dims[i];
    return n;
}

int64_t kiln_graph_param_count(const kiln_graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == KILN_VALUE_CONSTANT) n += kiln_value_numel(&g->values[i]);
    return n;
}

const char *kiln_shape_str(const kiln_value *v, char *buf, size_t cap)
{
    size_t len = 0;
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (int i = 0; i < v->rank && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", (long long)v->dims[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

kiln_graph *kiln_graph_clone(const kiln_graph *g)
{
    kiln_graph *c = kiln_graph_new();
    if (!c) return NULL;
    c->values = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(kiln_value));
    c->nodes = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof(kiln_node));
    c->inputs = malloc(sizeof(int32_t) * (size_t)(g->n_inputs + 1));
    c->outputs = malloc(sizeof(int32_t) * (size_t)(g->n_outputs + 1));
    if (!c->values || !c->nodes || !c->inputs || !c->outputs) goto fail;
    c->cap_values = g->n_values ? g->n_values : 1;
    c->cap_nodes = g->n_nodes ? g->n_nodes : 1;
    for (int i = 0; i < g->n_values; i++) {
        kiln_value *d = &c->values[i];
        *d = g->values[i];
        d->name = dup_str(g->values[i].name);
        d->data = NULL;
        d->owns_data = 0;
        c->n_values = i + 1;
        if (!d->name) goto fail;
        if (g->values[i].kind == KILN_VALUE_CONSTANT && g->values[i].data) {
            size_t bytes = sizeof(float) * (size_t)kiln_value_numel(&g->values[i]);
            d->data = malloc(bytes ? bytes : 1);
            if (!d->data) goto fail;
            memcpy(d->data, g->values[i].data, bytes);
            d->owns_data = 1;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        c->nodes[i] = g->nodes[i];
        c->nodes[i].name = dup_str(g->nodes[i].name);
        c->n_nodes = i + 1;
        if (!c->nodes[i].name) goto fail;
    }
    memcpy(c->inputs, g->inputs, sizeof(int32_t) * (size_t)g->n_inputs);
    c->n_inputs = g->n_inputs;
    memcpy(c->outputs, g->outputs, sizeof(int32_t) * (size_t)g->n_outputs);
    c->n_outputs = g->n_outputs;
    c->fixed_shape = g->fixed_shape;
    memcpy(c->fixed_note, g->fixed_note, sizeof c->fixed_note);
    return c;
fail:
    kiln_graph_free(c);
    return NULL;
}

kiln_status kiln_graph_check(const kiln_graph *g, const char *stage)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        if (n->op < 0 || n->op >= KILN_OP_COUNT)
            return kiln_fail(KILN_ERR_INTERNAL, "after %s: node %d '%s' has a bad op", stage, i, n->name);
        if (n->n_inputs < kiln_op_min_inputs(n->op) || n->n_inputs > kiln_op_max_inputs(n->op))
            return kiln_fail(KILN_ERR_INTERNAL, "after %s: node '%s' has %d inputs", stage, n->name, n->n_inputs);
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            if (v < 0 || v >= g->n_values)
                return kiln_fail(KILN_ERR_INTERNAL, "after %s: node '%s' input %d out of range", stage, n->name, j);
            int p = g->values[v].producer;
            if (p >= i)
                return kiln_fail(KILN_ERR_INTERNAL, "after %s: node '%s' reads a value produced later", stage,
                                 n->name);
        }
        if (n->output < 0 || n->output >= g->n_values || g->values[n->output].producer != i)
            return kiln_fail(KILN_ERR_INTERNAL, "after %s: node '%s' output link broken", stage, n->name);
        int rank;
        int64_t dims[KILN_MAX_RANK];
        if (kiln_infer_node(g, n, &rank, dims))
            return kiln_fail(KILN_ERR_INTERNAL, "after %s: node '%s' no longer type-checks: %s", stage, n->name,
                             kiln_last_error());
        const kiln_value *o = &g->values[n->output];
        int same = rank == o->rank;
        for (int d = 1; same && d < rank; d++) same = dims[d] == o->dims[d];
        if (!same)
            return kiln_fail(KILN_ERR_INTERNAL, "after %s: node '%s' output shape changed", stage, n->name);
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] < 0 || g->outputs[i] >= g->n_values)
            return kiln_fail(KILN_ERR_INTERNAL, "after %s: graph output %d out of range", stage, i);
    return KILN_OK;
}

kiln_status kiln_graph_compact(kiln_graph *g)
{
    int32_t *used = calloc((size_t)g->n_values + 1, sizeof(int32_t));
    int32_t *vmap = malloc(sizeof(int32_t) * ((size_t)g->n_values + 1));
    int32_t *nmap = malloc(sizeof(int32_t) * ((size_t)g->n_nodes + 1));
    if (!used || !vmap || !nmap) {
        free(used); free(vmap); free(nmap);
        return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory compacting the graph");
    }
    for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_inputs; i++) used[g->inputs[i]] = 1;
    /* Walk backwards: a node is live if its output is used; its inputs then become used. */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const kiln_node *n = &g->nodes[i];
        if (!used[n->output]) continue;
        for (int j = 0; j < n->n_inputs; j++) used[n->inputs[j]] = 1;
    }
    int nv = 0;
    for (int i = 0; i < g->n_values; i++) {
        if (used[i]) {
            vmap[i] = nv;
            g->values[nv++] = g->values[i];
        } else {
            vmap[i] = -1;
            free(g->values[i].name);
            if (g->values[i].owns_data) free(g->values[i].data);
        }
    }
    int nn = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        kiln_node *n = &g->nodes[i];
        if (vmap[n->output] < 0) {
            nmap[i] = -1;
            free(n->name);
            continue;
        }
        nmap[i] = nn;
        for (int j = 0; j < n->n_inputs; j++) n->inputs[j] = vmap[n->inputs[j]];
        n->output = vmap[n->output];
        g->nodes[nn++] = *n;
    }
    g->n_values = nv;
    g->n_nodes = nn;
    for (int i = 0; i < nv; i++)
        if (g->values[i].producer >= 0) g->values[i].producer = nmap[g->values[i].producer];
    for (int i = 0; i < g->n_inputs; i++) g->inputs[i] = vmap[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++) g->outputs[i] = vmap[g->outputs[i]];
    free(used);
    free(vmap);
    free(nmap);
    return KILN_OK;
}
