/* The name -> value table of one import (host constants and activations), and emitting kiln nodes and constants
 * on behalf of the ONNX node being converted. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int rehash(ox_ctx *c, int cap)
{
    int *h = malloc(sizeof(int) * (size_t)cap);
    if (!h) return -1;
    for (int i = 0; i < cap; i++) h[i] = -1;
    for (int i = 0; i < c->n_vals; i++) {
        uint32_t k = hash_str(c->vals[i].name) & (uint32_t)(cap - 1);
        while (h[k] >= 0) k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = i;
    }
    free(c->hash);
    c->hash = h;
    c->hash_cap = cap;
    return 0;
}

ox_val *ox_find(ox_ctx *c, const char *name)
{
    if (!c->hash_cap || !name) return NULL;
    uint32_t k = hash_str(name) & (uint32_t)(c->hash_cap - 1);
    while (c->hash[k] >= 0) {
        if (!strcmp(c->vals[c->hash[k]].name, name)) return &c->vals[c->hash[k]];
        k = (k + 1) & (uint32_t)(c->hash_cap - 1);
    }
    return NULL;
}

ox_val *ox_put(ox_ctx *c, const ox_val *v)
{
    ox_val *old = ox_find(c, v->name);
    if (old) { /* SSA says this never happens; a malformed model may still do it: the last definition wins */
        free(old->f);
        free(old->i);
        free(old->rowperm);
        *old = *v;
        return old;
    }
    if (c->n_vals + 1 > c->cap_vals) {
        int nc = c->cap_vals ? c->cap_vals * 2 : 256;
        ox_val *p = realloc(c->vals, sizeof(ox_val) * (size_t)nc);
        if (!p) return NULL;
        c->vals = p;
        c->cap_vals = nc;
    }
    c->vals[c->n_vals++] = *v;
    if (c->n_vals * 2 > c->hash_cap) {
        if (rehash(c, c->hash_cap ? c->hash_cap * 2 : 1024)) {
            c->n_vals--;
            return NULL;
        }
    } else {
        uint32_t k = hash_str(v->name) & (uint32_t)(c->hash_cap - 1);
        while (c->hash[k] >= 0) k = (k + 1) & (uint32_t)(c->hash_cap - 1);
        c->hash[k] = c->n_vals - 1;
    }
    return &c->vals[c->n_vals - 1];
}

void ox_vals_free(ox_ctx *c)
{
    for (int i = 0; i < c->n_vals; i++) {
        free(c->vals[i].f);
        free(c->vals[i].i);
        free(c->vals[i].rowperm);
    }
    free(c->vals);
    free(c->hash);
    c->vals = NULL;
    c->hash = NULL;
    c->n_vals = c->cap_vals = c->hash_cap = 0;
}

kiln_status ox_fail(ox_ctx *c, kiln_status st, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *n = c->node;
    if (!n) return kiln_fail(st, "%s: %s", c->path, why);
    return kiln_fail(st, "%s: node '%s' (%s, opset %lld): %s", c->path, c->node_name, n->op_type ? n->op_type : "?",
                     (long long)c->opset, why);
}

kiln_status ox_fail_batch(ox_ctx *c, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!c->batch_refused && c->node)
        snprintf(c->batch_node, sizeof c->batch_node, "node '%.200s' (%.60s)", c->node_name,
                 c->node->op_type ? c->node->op_type : "?");
    c->batch_refused = 1;
    return ox_fail(c, KILN_ERR_UNSUPPORTED, "%s", why);
}

int ox_has_in(const ox_ctx *c, int i)
{
    return c->node && i < (int)c->node->n_input && c->node->input[i] && c->node->input[i][0];
}

const ox_val *ox_in(ox_ctx *c, int i)
{
    if (!ox_has_in(c, i)) return NULL;
    return ox_find(c, c->node->input[i]);
}

kiln_status ox_act_in(ox_ctx *c, int i, const ox_val **v)
{
    *v = ox_in(c, i);
    if (!*v) return ox_fail(c, KILN_ERR_FORMAT, "input %d is missing", i);
    if ((*v)->kind != OX_ACT)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "input %d ('%s') is a constant where kiln needs a run-time tensor", i,
                       (*v)->name);
    return KILN_OK;
}

kiln_status ox_const_in(ox_ctx *c, int i, const char *what, const ox_val **v)
{
    *v = ox_in(c, i);
    if (!*v) return ox_fail(c, KILN_ERR_FORMAT, "%s (input %d) is missing", what, i);
    if ((*v)->kind != OX_CONST)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "%s ('%s') must be a constant (an initializer), not a run-time tensor",
                       what, (*v)->name);
    return KILN_OK;
}

kiln_status ox_emit(ox_ctx *c, kiln_op op, const char *suffix, const int *in, int n_in, const kiln_attrs *a, int *vid)
{
    char name[400];
    if (suffix && *suffix) snprintf(name, sizeof name, "%s/%s", c->node_name, suffix);
    else snprintf(name, sizeof name, "%s", c->node_name);
    kiln_diag_clear();
    *vid = kiln_graph_add_node(c->g, op, name, in, n_in, a);
    if (*vid >= 0) return KILN_OK;
    char why[1024];
    snprintf(why, sizeof why, "%s", kiln_last_error());
    return ox_fail(c, KILN_ERR_UNSUPPORTED, "kiln %s: %s", kiln_op_name(op), why);
}

kiln_status ox_set_act(ox_ctx *c, int out_index, int vid, const int *perm)
{
    if (out_index >= (int)c->node->n_output || !c->node->output[out_index][0]) return KILN_OK;
    ox_val v;
    memset(&v, 0, sizeof v);
    v.name = c->node->output[out_index];
    v.kind = OX_ACT;
    v.vid = vid;
    int r = c->g->values[vid].rank;
    if (perm) memcpy(v.perm, perm, sizeof(int) * (size_t)r);
    else ox_identity(c, v.perm, r - c->fixed);
    if (!ox_put(c, &v)) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    return KILN_OK;
}

kiln_status ox_set_const(ox_ctx *c, int out_index, ox_val *v)
{
    if (out_index >= (int)c->node->n_output || !c->node->output[out_index][0]) {
        free(v->f);
        free(v->i);
        return KILN_OK;
    }
    v->name = c->node->output[out_index];
    v->kind = OX_CONST;
    if (!ox_put(c, v)) {
        free(v->f);
        free(v->i);
        return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    }
    return KILN_OK;
}

kiln_status ox_kconst(ox_ctx *c, const char *suffix, int rank, const int64_t *dims, const float *data, int *id)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    float *d = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!d) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    memcpy(d, data, sizeof(float) * (size_t)n);
    char name[400];
    snprintf(name, sizeof name, "%s/%s", c->node_name, suffix);
    *id = kiln_graph_add_constant(c->g, name, rank, dims, d);
    if (*id < 0) return ox_fail(c, KILN_ERR_NO_MEMORY, "cannot add constant %s", name);
    return KILN_OK;
}

float *ox_const_floats(const ox_val *v)
{
    float *d = malloc(sizeof(float) * (size_t)(v->numel ? v->numel : 1));
    if (!d) return NULL;
    for (int64_t k = 0; k < v->numel; k++) d[k] = v->is_int ? (float)v->i[k] : v->f[k];
    return d;
}

int ox_uses(const ox_ctx *c, const char *name)
{
    const Onnx__GraphProto *g = c->model->graph;
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++) n += !strcmp(g->node[i]->input[k], name);
    for (size_t i = 0; i < g->n_output; i++) n += g->output[i]->name && !strcmp(g->output[i]->name, name);
    return n;
}

const Onnx__NodeProto *ox_sole_consumer(const ox_ctx *c, const char *name, int *input_index)
{
    if (ox_uses(c, name) != 1) return NULL;
    const Onnx__GraphProto *g = c->model->graph;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (!strcmp(g->node[i]->input[k], name)) {
                *input_index = (int)k;
                return g->node[i];
            }
    return NULL;
}
