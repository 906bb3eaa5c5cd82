/* kiln_engine_describe: what an engine contains, as a table for people or as JSON for tools.
 *
 * The JSON is shaped like trtexec's --exportLayerInfo (schema in docs/ENGINE_FORMAT.md, "Engine description"):
 *   {"Target","Precision","BatchMin","BatchMax","Threads","SourceFormat",
 *    "Bindings":[{"Name","IsInput","Dimensions","DataType","Layout"}],
 *    "Layers":[{"Name","LayerType","Inputs":[{"Name","Dimensions"}],"Outputs":[...],"Activation","TacticName",
 *               "Backend","WorkspaceBytes","ParameterCount"}],
 *    "ParameterCount","WeightsBytes","ArenaBytes","ActivationBytesTotal","WorkspaceBytes"}
 * Dimensions give the batch axis as -1 (any batch in [BatchMin, BatchMax]). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/status.h"
#include "../plan/plan.h"
#include "engine_internal.h"

static const char *dtype_name(int dt) { return dt == KILN_DTYPE_F16 ? "FP16" : "FP32"; }
static const char *layout_name(int rank) { return rank == 4 ? "NHWC" : rank == 2 ? "NC" : "ANY"; }

/* "[N,112,112,32]" */
static const char *shape_n(const kiln_value *v, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[N");
    for (int d = 1; d < v->rank && len < cap; d++) len += (size_t)snprintf(buf + len, cap - len, ",%lld", (long long)v->dims[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void json_dims(FILE *f, const kiln_value *v)
{
    fputc('[', f);
    for (int d = 0; d < v->rank; d++) fprintf(f, "%s%lld", d ? "," : "", d == 0 ? -1LL : (long long)v->dims[d]);
    fputc(']', f);
}

static int64_t node_params(const kiln_graph *g, const kiln_node *n)
{
    int64_t p = 0;
    for (int j = 0; j < n->n_inputs; j++)
        if (g->values[n->inputs[j]].kind == KILN_VALUE_CONSTANT) p += kiln_value_numel(&g->values[n->inputs[j]]);
    return p;
}

/* The fused activation with the parameters that change its meaning: "relu6", "relu(max=4)", "leaky_relu(0.1)". */
static const char *act_of(const kiln_node *n, char *buf, size_t cap)
{
    const kiln_act *a = &n->attrs.act;
    if (n->op == KILN_OP_ACTIVATION || a->kind == KILN_ACT_NONE) return "-";
    if (a->kind != KILN_ACT_RELU) return kiln_act_name(a->kind);
    if (a->alpha == 0.0f && a->gamma == 0.0f && isinf(a->beta)) return "relu";
    if (a->alpha == 0.0f && a->gamma == 0.0f && a->beta == 6.0f) return "relu6";
    if (a->gamma == 0.0f && isinf(a->beta)) snprintf(buf, cap, "leaky_relu(%g)", (double)a->alpha);
    else snprintf(buf, cap, "relu(slope=%g,max=%g,threshold=%g)", (double)a->alpha, (double)a->beta, (double)a->gamma);
    return buf;
}

/* Sum of every activation the arena holds, were each given its own buffer. */
static int64_t activation_total(const kiln_engine *e)
{
    int64_t s = 0;
    for (int v = 0; v < e->g->n_values; v++)
        if (e->value_offset[v] >= 0) s += kiln_plan_value_bytes(&e->g->values[v], e->batch_max);
    return s;
}

static void human_bytes(int64_t b, char *buf, size_t cap)
{
    if (b >= 1 << 20) snprintf(buf, cap, "%.2f MiB", (double)b / (1 << 20));
    else if (b >= 1 << 10) snprintf(buf, cap, "%.1f KiB", (double)b / (1 << 10));
    else snprintf(buf, cap, "%lld B", (long long)b);
}

static void describe_text(const kiln_engine *e, FILE *f)
{
    const kiln_graph *g = e->g;
    char sh[128], b1[32], b2[32], ab[160];
    fprintf(f, "engine: %s, %s, batch %d:%d, %d thread%s, from %s\n", kiln_target_name(e->target),
            e->precision == KILN_PRECISION_FP32 ? "FP32" : "FP16", e->batch_min, e->batch_max, e->threads,
            e->threads == 1 ? "" : "s", e->source_format[0] ? e->source_format : "?");
    for (int k = 0; k < 2; k++) {
        int n = k ? g->n_outputs : g->n_inputs;
        fprintf(f, "%s:\n", k ? "outputs" : "inputs");
        for (int i = 0; i < n; i++) {
            const kiln_value *v = &g->values[k ? g->outputs[i] : g->inputs[i]];
            fprintf(f, "  %d  %-24s %-20s %s %s\n", i, v->name, shape_n(v, sh, sizeof sh), dtype_name(v->dtype),
                    layout_name(v->rank));
        }
    }
    fprintf(f, "layers: %d (N = batch)\n", g->n_nodes);
    fprintf(f, "  %4s  %-14s %-20s %-16s %-6s %s\n", "#", "op", "output", "activation", "tactic", "name (source layers)");
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        fprintf(f, "  %4d  %-14s %-20s %-16s %-6s %s\n", i, kiln_op_name((kiln_op)n->op),
                shape_n(&g->values[n->output], sh, sizeof sh), act_of(n, ab, sizeof ab), e->layers[i].tactic == 0 ? "ref" : "?",
                n->name);
    }
    human_bytes(e->weights_bytes, b1, sizeof b1);
    fprintf(f, "parameters: %lld (weights %s)\n", (long long)kiln_graph_param_count(g), b1);
    human_bytes(e->arena_bytes, b1, sizeof b1);
    human_bytes(activation_total(e), b2, sizeof b2);
    fprintf(f, "memory at batch %d: activation arena %s (all activations separately: %s), workspace %lld B\n",
            e->batch_max, b1, b2, (long long)e->workspace_bytes);
}

static void describe_json(const kiln_engine *e, FILE *f)
{
    const kiln_graph *g = e->g;
    fprintf(f, "{\n  \"Target\": \"%s\",\n  \"Precision\": \"%s\",\n  \"BatchMin\": %d,\n  \"BatchMax\": %d,\n"
               "  \"Threads\": %d,\n  \"SourceFormat\": ",
            kiln_target_name(e->target), e->precision == KILN_PRECISION_FP32 ? "FP32" : "FP16", e->batch_min,
            e->batch_max, e->threads);
    json_str(f, e->source_format);
    fprintf(f, ",\n  \"Bindings\": [");
    int first = 1;
    for (int k = 0; k < 2; k++) {
        int n = k ? g->n_outputs : g->n_inputs;
        for (int i = 0; i < n; i++) {
            const kiln_value *v = &g->values[k ? g->outputs[i] : g->inputs[i]];
            fprintf(f, "%s\n    {\"Name\": ", first ? "" : ",");
            first = 0;
            json_str(f, v->name);
            fprintf(f, ", \"IsInput\": %s, \"Dimensions\": ", k ? "false" : "true");
            json_dims(f, v);
            fprintf(f, ", \"DataType\": \"%s\", \"Layout\": \"%s\"}", dtype_name(v->dtype), layout_name(v->rank));
        }
    }
    fprintf(f, "\n  ],\n  \"Layers\": [");
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        fprintf(f, "%s\n    {\"Name\": ", i ? "," : "");
        json_str(f, n->name);
        fprintf(f, ", \"LayerType\": \"%s\", \"Inputs\": [", kiln_op_name((kiln_op)n->op));
        int fi = 1;
        for (int j = 0; j < n->n_inputs; j++) {
            const kiln_value *v = &g->values[n->inputs[j]];
            if (v->kind != KILN_VALUE_ACTIVATION) continue;
            fprintf(f, "%s{\"Name\": ", fi ? "" : ", ");
            fi = 0;
            json_str(f, v->name);
            fprintf(f, ", \"Dimensions\": ");
            json_dims(f, v);
            fputc('}', f);
        }
        fprintf(f, "], \"Outputs\": [{\"Name\": ");
        json_str(f, g->values[n->output].name);
        fprintf(f, ", \"Dimensions\": ");
        json_dims(f, &g->values[n->output]);
        char ab[160];
        const char *act = act_of(n, ab, sizeof ab);
        fprintf(f, "}], \"Activation\": \"%s\", \"TacticName\": \"%s\", \"Backend\": \"cpu\", \"WorkspaceBytes\": %lld, "
                   "\"ParameterCount\": %lld}",
                strcmp(act, "-") ? act : "linear",
                e->layers[i].tactic == 0 ? "ref" : "?", (long long)e->layers[i].workspace,
                (long long)node_params(g, n));
    }
    fprintf(f, "\n  ],\n  \"ParameterCount\": %lld,\n  \"WeightsBytes\": %lld,\n  \"ArenaBytes\": %lld,\n"
               "  \"ActivationBytesTotal\": %lld,\n  \"WorkspaceBytes\": %lld\n}\n",
            (long long)kiln_graph_param_count(g), (long long)e->weights_bytes, (long long)e->arena_bytes,
            (long long)activation_total(e), (long long)e->workspace_bytes);
}

kiln_status kiln_engine_describe(const kiln_engine *e, void *out_file, int json)
{
    kiln_diag_clear();
    if (!e || !out_file) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "describe: engine and output file are required");
    FILE *f = out_file;
    if (json) describe_json(e, f);
    else describe_text(e, f);
    if (ferror(f)) return kiln_fail(KILN_ERR_IO, "describe: write failed");
    return KILN_OK;
}
