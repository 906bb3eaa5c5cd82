/* ONNX import entry: parse, read initializers, declare the inputs (choosing their physical layout), check that every
 * node is supported (one message listing all that are not), convert the nodes in order, bind the outputs. */
#include "onnx_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

int kiln_onnx_sniff(const unsigned char *head, size_t n)
{
    /* Field 1 (ir_version), wire type 0: tag byte 0x08, then a varint version 1..127 (one byte). */
    return n >= 3 && head[0] == 0x08 && head[1] >= 1 && head[1] < 0x80;
}

static void set_node(ox_ctx *c, const Onnx__NodeProto *n)
{
    c->node = n;
    const char *nm = n && n->name && n->name[0] ? n->name : n && n->n_output ? n->output[0] : "?";
    snprintf(c->node_name, sizeof c->node_name, "%s", nm);
}

static int64_t domain_version(const ox_ctx *c, const char *domain)
{
    const Onnx__ModelProto *m = c->model;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *d = m->opset_import[i]->domain ? m->opset_import[i]->domain : "";
        if (!strcmp(d, domain) || (!*domain && !strcmp(d, "ai.onnx")))
            return m->opset_import[i]->has_version ? m->opset_import[i]->version : 1;
    }
    return -1;
}

static int is_spatial(const char *op)
{
    static const char *const ops[] = { "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                                       "BatchNormalization", "Resize", "Upsample", "ConvTranspose",
                                       "InstanceNormalization", "LRN", NULL };
    for (int i = 0; ops[i]; i++)
        if (!strcmp(ops[i], op)) return 1;
    return 0;
}

static int is_passthrough(const char *op)
{
    static const char *const ops[] = { "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Identity", "Cast", "Pad",
                                       "LeakyRelu", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "PRelu", "Elu",
                                       "Dropout", NULL };
    for (int i = 0; ops[i]; i++)
        if (!strcmp(ops[i], op)) return 1;
    return 0;
}

/* A 4-D input feeding (through elementwise preprocessing) a spatial operator is an NCHW image: kiln stores it NHWC,
 * so the engine's input is [N, H, W, C]. Any other input keeps its ONNX axis order. */
static int input_is_nchw(const ox_ctx *c, const char *name)
{
    const Onnx__GraphProto *g = c->model->graph;
    const char *front[64];
    int nf = 0;
    front[nf++] = name;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        int hit = 0;
        for (size_t k = 0; k < n->n_input && !hit; k++)
            for (int f = 0; f < nf && !hit; f++) hit = n->input[k] && !strcmp(n->input[k], front[f]);
        if (!hit || !n->op_type) continue;
        if (is_spatial(n->op_type)) return 1;
        if (is_passthrough(n->op_type))
            for (size_t k = 0; k < n->n_output && nf < 64; k++) front[nf++] = n->output[k];
    }
    return 0;
}

static kiln_status declare_input(ox_ctx *c, const Onnx__ValueInfoProto *vi, int64_t *batch_seen)
{
    const char *name = vi->name ? vi->name : "";
    const Onnx__TypeProto *t = vi->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s' is not a tensor", c->path, name);
    const Onnx__TypeProto__Tensor *tt = t->tensor_type;
    int et = tt->has_elem_type ? tt->elem_type : 0;
    if (et != OX_FLOAT)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s' has element type %d; kiln's inputs are float32 (type 1)",
                         c->path, name, et);
    if (!tt->shape)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s' has no declared shape", c->path, name);
    int r = (int)tt->shape->n_dim;
    if (c->fixed && (r < 1 || r > KILN_MAX_RANK - 1))
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s' has rank %d; a fixed-shape kiln engine takes ranks 1 "
                         "to %d", c->path, name, r, KILN_MAX_RANK - 1);
    if (r < 1 || r > KILN_MAX_RANK)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s' has rank %d; kiln takes ranks 1 to %d with the batch "
                         "first", c->path, name, r, KILN_MAX_RANK);
    int64_t dims[KILN_MAX_RANK];
    for (int i = 0; i < r; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        int fixed = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value > 0;
        if (c->fixed) { /* fixed-shape mode: every axis is data (checked static before this import) */
            dims[i] = fixed ? d->dim_value : 1;
            continue;
        }
        if (i == 0) { /* the batch: symbolic, -1 or fixed; any batch of the engine's range runs */
            if (fixed) {
                if (*batch_seen > 0 && *batch_seen != d->dim_value) {
                    c->batch_refused = 1;
                    snprintf(c->batch_node, sizeof c->batch_node, "inputs '%.100s' and another differ in axis 0",
                             name);
                    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s' has first dimension %lld, another input "
                                     "%lld: kiln needs one batch size shared by every input", c->path, name,
                                     (long long)d->dim_value, (long long)*batch_seen);
                }
                *batch_seen = d->dim_value;
            }
            dims[0] = 1;
        } else {
            if (!fixed)
                return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s': dimension %d is not fixed; kiln needs every "
                                 "dimension but the batch fixed (re-export with a fixed input size)", c->path, name, i);
            dims[i] = d->dim_value;
        }
    }
    ox_val v;
    memset(&v, 0, sizeof v);
    v.name = name;
    v.kind = OX_ACT;
    ox_identity(c, v.perm, r);
    if (r == 4 && input_is_nchw(c, name)) ox_channels_last(c, v.perm, 4);
    int64_t phys[KILN_MAX_RANK];
    const int R = r + c->fixed;
    for (int p = 0; p < R; p++) phys[p] = v.perm[p] == OX_VIRTUAL ? 1 : dims[v.perm[p]];
    v.vid = kiln_graph_add_input(c->g, name, R, phys);
    if (v.vid < 0 || !ox_put(c, &v)) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: cannot add input '%s'", c->path, name);
    return KILN_OK;
}

/* Every node whose operator kiln cannot import, in one message. */
static kiln_status check_support(ox_ctx *c)
{
    const Onnx__GraphProto *g = c->model->graph;
    char *list = NULL;
    size_t len = 0;
    int count = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        const char *why = ox_unsupported(c, n);
        if (!why) continue;
        const char *dom = n->domain && n->domain[0] ? n->domain : "ai.onnx";
        int64_t ver = domain_version(c, n->domain && strcmp(dom, "ai.onnx") ? n->domain : "");
        char line[700], opset[32];
        if (ver >= 0) snprintf(opset, sizeof opset, "%lld", (long long)ver);
        else snprintf(opset, sizeof opset, "not imported");
        snprintf(line, sizeof line, "%s'%s' (%s, opset %s, domain %s%s%s)", count++ ? ", " : "",
                 n->name && n->name[0] ? n->name : n->n_output ? n->output[0] : "?", n->op_type ? n->op_type : "?",
                 opset, dom, *why ? ": " : "", why);
        size_t l = strlen(line);
        char *p = realloc(list, len + l + 1);
        if (!p) break;
        list = p;
        memcpy(list + len, line, l + 1);
        len += l;
    }
    if (!count) return KILN_OK;
    kiln_status st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: %d unsupported operator%s: %s", c->path, count,
                               count == 1 ? "" : "s", list ? list : "?");
    free(list);
    return st;
}

static kiln_status convert_node(ox_ctx *c, const Onnx__NodeProto *n)
{
    set_node(c, n);
    for (size_t k = 0; k < n->n_input; k++)
        if (n->input[k] && n->input[k][0] && !ox_find(c, n->input[k]))
            return ox_fail(c, KILN_ERR_FORMAT, "input '%s' is not produced by any earlier node, initializer or graph "
                           "input (the graph is not topologically sorted, or the tensor is missing)", n->input[k]);
    if (n->n_output < 1) return ox_fail(c, KILN_ERR_FORMAT, "node without outputs");
    if (ox_can_fold(n->op_type) && ox_all_const(c)) return ox_fold(c);
    return ox_lookup(n->op_type)(c);
}

/* Bind graph output i: logical order physically, named after the ONNX output. */
static kiln_status bind_output(ox_ctx *c, const Onnx__ValueInfoProto *vi)
{
    const char *name = vi->name ? vi->name : "";
    ox_val *v = ox_find(c, name);
    c->node = NULL;
    if (!v) return kiln_fail(KILN_ERR_FORMAT, "%s: output '%s' is not computed by the graph", c->path, name);
    if (v->kind != OX_ACT)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: output '%s' is a constant (it does not depend on the inputs)",
                         c->path, name);
    int r = ox_rank(c, v), id[KILN_MAX_RANK], vid;
    ox_identity(c, id, r);
    snprintf(c->node_name, sizeof c->node_name, "%s", name);
    ox_val tmp = *v;
    static const Onnx__NodeProto fake = { .op_type = (char *)"output" };
    c->node = &fake;
    kiln_status st = ox_to_perm(c, &tmp, id, &vid);
    if (st) return st;
    int shared = c->g->values[vid].producer < 0;
    for (int i = 0; i < c->g->n_outputs; i++) shared |= c->g->outputs[i] == vid;
    if (shared && (st = ox_emit(c, KILN_OP_IDENTITY, "", &vid, 1, NULL, &vid))) return st;
    c->node = NULL;
    kiln_value *kv = &c->g->values[vid];
    if (strcmp(kv->name, name)) {
        char *nm = strdup(name);
        if (!nm) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        free(kv->name);
        kv->name = nm;
    }
    if (kiln_graph_mark_output(c->g, vid)) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    return KILN_OK;
}

static kiln_status convert(ox_ctx *c)
{
    const Onnx__GraphProto *g = c->model->graph;
    kiln_status st;
    c->opset = domain_version(c, "");
    if (c->opset < 0) c->opset = 1;
    if ((st = check_support(c))) return st;
    for (size_t i = 0; i < g->n_initializer; i++) {
        ox_val v;
        if ((st = ox_tensor(c, g->initializer[i], &v))) return st;
        if (!ox_put(c, &v)) {
            free(v.f);
            free(v.i);
            return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        }
    }
    int64_t batch = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        if (g->input[i]->name && ox_find(c, g->input[i]->name)) continue; /* an initializer listed as an input */
        if ((st = declare_input(c, g->input[i], &batch))) return st;
    }
    if (!c->g->n_inputs) return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: the graph has no run-time input", c->path);
    c->batch = batch > 0 ? batch : 1;
    for (size_t i = 0; i < g->n_node; i++)
        if ((st = convert_node(c, g->node[i]))) return st;
    if (!g->n_output) return kiln_fail(KILN_ERR_FORMAT, "%s: the graph has no outputs", c->path);
    for (size_t i = 0; i < g->n_output; i++)
        if ((st = bind_output(c, g->output[i]))) return st;
    c->node = NULL;
    if ((st = kiln_graph_compact(c->g))) return st;
    return kiln_graph_check(c->g, "onnx import");
}

/* 1 when every run-time graph input (initializers excluded) declares every dimension as a positive number. */
static int inputs_static(const ox_ctx *c)
{
    const Onnx__GraphProto *g = c->model->graph;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        int init = 0;
        for (size_t k = 0; k < g->n_initializer && !init; k++)
            init = vi->name && g->initializer[k]->name && !strcmp(vi->name, g->initializer[k]->name);
        if (init) continue;
        const Onnx__TypeProto *t = vi->type;
        if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type || !t->tensor_type->shape)
            return 0;
        for (size_t d = 0; d < t->tensor_type->shape->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = t->tensor_type->shape->dim[d];
            if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dim->dim_value < 1) return 0;
        }
    }
    return 1;
}

/* One conversion of the parsed model into a new graph (c->fixed chooses the mode). */
static kiln_status convert_new(ox_ctx *c)
{
    kiln_graph_free(c->g);
    ox_vals_free(c);
    c->g = kiln_graph_new();
    c->batch = 1;
    c->node = NULL;
    return c->g ? convert(c) : kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
}

kiln_status kiln_onnx_import(const char *path, kiln_graph **out)
{
    *out = NULL;
    ox_ctx c;
    memset(&c, 0, sizeof c);
    c.path = path;
    c.batch = 1;
    kiln_status st = ox_load(&c, path);
    if (!st) st = convert_new(&c);
    if (st && c.batch_refused) {
        /* The batch rule: a node uses the first axis as data. With every input shape static the model runs as a
         * fixed-shape engine (axis 0 virtual, the ONNX axes all data), else the refusal stands. */
        char first[2048], why[sizeof c.batch_node];
        snprintf(first, sizeof first, "%s", kiln_last_error());
        snprintf(why, sizeof why, "%s", c.batch_node);
        if (!inputs_static(&c)) {
            kiln_diag_clear();
            st = kiln_fail(st, "%s (re-export with a fixed batch to run it as a fixed-shape engine)", first);
        } else {
            c.fixed = 1;
            st = convert_new(&c);
            if (st) {
                char second[2048];
                snprintf(second, sizeof second, "%s", kiln_last_error());
                kiln_diag_clear();
                st = kiln_fail(st, "%s (as a fixed-shape engine, tried because %s)", second, first);
            } else {
                snprintf(c.g->fixed_note, sizeof c.g->fixed_note, "%.200s%s", why,
                         strstr(why, "differ") ? "" : " uses axis 0 as data");
                c.g->fixed_shape = 1;
            }
        }
    }
    if (!st) {
        *out = c.g;
        c.g = NULL;
    }
    kiln_graph_free(c.g);
    ox_vals_free(&c);
    if (c.model) onnx__model_proto__free_unpacked(c.model, NULL);
    free(c.dir);
    return st;
}
