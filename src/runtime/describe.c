/* kiln_engine_describe: what an engine contains, as a table for people or as JSON for tools; and the layer printer
 * the optimizer's --dump-after shares (describe.h).
 *
 * The JSON is shaped like trtexec's --exportLayerInfo; schema "kiln-engine-info" version 2, documented in
 * docs/INSPECT.md (fields are only ever added, never renamed):
 *   {"Schema","SchemaVersion","Target","Precision","BatchMin","BatchMax","Threads","SourceFormat",
 *    "Bindings":[{"Name","IsInput","Dimensions","DataType","Layout"}],
 *    "Layers":[{"Name","LayerType","SourceLayers","Inputs":[{"Name","Dimensions"}],"Outputs":[...],"Activation",
 *               "Precision","TacticName","Backend","WorkspaceBytes","ParameterCount","InPlace","Range" (FP16 engines)}],
 *    "Summary":{"LayersImported","Layers","KernelLayers","ViewLayers","Fusions":{pass: rewrites},
 *               "ConcatCopies","ConcatsInPlace","SqueezeExciteBlocks","HorizontalConvs"},
 *    "Fp32Layers","PrecisionNote" (FP16 engines only),
 *    "ParameterCount","WeightsBytes","ArenaBytes","ArenaLowerBound","ActivationBytesTotal","WorkspaceBytes"}
 * Dimensions give the batch axis as -1 (any batch in [BatchMin, BatchMax]). Fixed-shape engines add "FixedShape": true;
 * their Bindings' Dimensions are the model's own shapes and layer Dimensions are as stored (a leading 1, no -1). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/tactics.h"
#include "../plan/plan.h"
#include "describe.h"
#include "engine_internal.h"

static const char *dtype_name(int dt) { return dt == KILN_DTYPE_F16 ? "FP16" : "FP32"; }
static const char *layout_name(int rank) { return rank == 4 ? "NHWC" : rank == 2 ? "NC" : "ANY"; }

/* "[N,112,112,32]". Fixed-shape graphs (kiln_graph.fixed_shape) have no batch: "[1,2,3,4]" as stored. */
static const char *shape_g(const kiln_graph *g, const kiln_value *v, char *buf, size_t cap)
{
    size_t len = g->fixed_shape ? (size_t)snprintf(buf, cap, "[%lld", (long long)v->dims[0]) : (size_t)snprintf(buf, cap, "[N");
    for (int d = 1; d < v->rank && len < cap; d++) len += (size_t)snprintf(buf + len, cap - len, ",%lld", (long long)v->dims[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

/* An input/output as the user binds it: "[N,224,224,3]", or for a fixed-shape engine the model's own shape (the
 * virtual axis 0 dropped): "[2,3,4]". */
static const char *binding_shape(const kiln_graph *g, const kiln_value *v, char *buf, size_t cap)
{
    if (!g->fixed_shape) return shape_g(g, v, buf, cap);
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 1; d < v->rank && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d > 1 ? "," : "", (long long)v->dims[d]);
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

/* binding: an engine input/output of a fixed-shape graph is given without its virtual axis 0. */
static void json_dims(FILE *f, const kiln_graph *g, const kiln_value *v, int binding)
{
    fputc('[', f);
    const int from = g->fixed_shape && binding ? 1 : 0;
    for (int d = from; d < v->rank; d++)
        fprintf(f, "%s%lld", d > from ? "," : "", d == 0 && !g->fixed_shape ? -1LL : (long long)v->dims[d]);
    fputc(']', f);
}

static int64_t node_params(const kiln_graph *g, const kiln_node *n)
{
    int64_t p = 0;
    for (int j = 0; j < n->n_inputs; j++)
        if (g->values[n->inputs[j]].kind == KILN_VALUE_CONSTANT) p += kiln_value_numel(&g->values[n->inputs[j]]);
    return p;
}

/* An activation with the parameters that change its meaning: "relu6", "relu(max=4)", "leaky_relu(0.1)". */
static const char *act_name(const kiln_act *a, char *buf, size_t cap)
{
    if (a->kind != KILN_ACT_RELU) return kiln_act_name(a->kind);
    if (a->alpha == 0.0f && a->gamma == 0.0f && isinf(a->beta)) return "relu";
    if (a->alpha == 0.0f && a->gamma == 0.0f && a->beta == 6.0f) return "relu6";
    if (a->gamma == 0.0f && isinf(a->beta)) snprintf(buf, cap, "leaky_relu(%g)", (double)a->alpha);
    else snprintf(buf, cap, "relu(slope=%g,max=%g,threshold=%g)", (double)a->alpha, (double)a->beta, (double)a->gamma);
    return buf;
}

/* The fused epilogue of a layer as printed: "-" when none; "+residual" when a residual Add was fused;
 * SqueezeExcite shows both of its activations. */
static const char *act_of(const kiln_node *n, char *buf, size_t cap)
{
    char a1[80], a2[80];
    const int res = n->op == KILN_OP_CONV2D && n->n_inputs > 3;
    if (n->op == KILN_OP_SQUEEZE_EXCITE) {
        snprintf(buf, cap, "%s,%s", act_name(&n->attrs.act, a1, sizeof a1), act_name(&n->attrs.act2, a2, sizeof a2));
        return buf;
    }
    if (n->op == KILN_OP_ACTIVATION || n->attrs.act.kind == KILN_ACT_NONE) return res ? "+residual" : "-";
    const char *a = act_name(&n->attrs.act, a1, sizeof a1);
    if (!res) {
        snprintf(buf, cap, "%s", a);
        return buf;
    }
    snprintf(buf, cap, "+residual,%s", a);
    return buf;
}

void kiln_print_layers(const kiln_graph *g, FILE *f, const char *(*tactic_of)(const void *ctx, int layer),
                       const void *ctx)
{
    kiln_print_layers_prec(g, f, tactic_of, NULL, ctx);
}

void kiln_print_layers_prec(const kiln_graph *g, FILE *f, const char *(*tactic_of)(const void *ctx, int layer),
                            const char *(*precision_of)(const void *ctx, int layer), const void *ctx)
{
    char sh[128], ab[200];
    fprintf(f, "  %4s  %-14s %-20s %-22s %-9s %-22s %s\n", "#", "op", "output", "activation", "precision", "tactic",
            "name (source layers)");
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        fprintf(f, "  %4d  %-14s %-20s %-22s %-9s %-22s %s\n", i, kiln_op_name((kiln_op)n->op),
                shape_g(g, &g->values[n->output], sh, sizeof sh), act_of(n, ab, sizeof ab),
                precision_of ? precision_of(ctx, i) : dtype_name(g->values[n->output].dtype),
                tactic_of ? tactic_of(ctx, i) : "-", n->name);
    }
}

/* Is layer i a view the planner laid out in place (a Slice or Concat whose data is already where it belongs)? */
static int is_view(const kiln_engine *e, int i)
{
    const kiln_graph *g = e->g;
    const kiln_node *n = &g->nodes[i];
    if (n->op != KILN_OP_SLICE && n->op != KILN_OP_CONCAT) return 0;
    if (!e->value_pitch || e->value_offset[n->output] < 0) return 0;
    const kiln_value *y = &g->values[n->output];
    int64_t yc = y->dims[y->rank - 1], yp = e->value_pitch[n->output] ? e->value_pitch[n->output] : yc;
    if (n->op == KILN_OP_SLICE) {
        int x = n->inputs[0];
        const kiln_value *xv = &g->values[x];
        int64_t xp = e->value_pitch[x] ? e->value_pitch[x] : xv->dims[xv->rank - 1];
        return e->value_offset[x] >= 0 && xp == yp &&
               e->value_offset[n->output] == e->value_offset[x] + 4 * (int64_t)n->attrs.pads_begin[n->attrs.axis];
    }
    if (n->attrs.axis != y->rank - 1) return 0;
    int64_t at = 0;
    for (int j = 0; j < n->n_inputs; j++) {
        int x = n->inputs[j];
        const kiln_value *xv = &g->values[x];
        int64_t xc = xv->dims[xv->rank - 1], xp = e->value_pitch[x] ? e->value_pitch[x] : xc;
        if (e->value_offset[x] < 0 || xp != yp || e->value_offset[x] != e->value_offset[n->output] + 4 * at) return 0;
        at += xc;
    }
    return 1;
}

typedef struct {
    const kiln_engine *e;
    char buf[112]; /* "conv_gemm_avx512_12x32->conv_gemm_avx2_6x16" */
} tactic_ctx;

static const char *tactic_name(const void *vctx, int i)
{
    tactic_ctx *t = (tactic_ctx *)vctx;
    const kiln_engine *e = t->e;
    if (is_view(e, i)) return "view (no copy)";
    if (e->layers[i].backend == 1) {
        snprintf(t->buf, sizeof t->buf, "cuda:%d", e->layers[i].tactic);
        return t->buf;
    }
    const int run = kiln_cpu_engine_run_tactic(e, i); /* differs after an ISA fallback on this CPU */
    /* row streaming (src/cpu/stream.h): "+stream" on the expansion whose rows the next layer computes (here) */
    const int sm = e->layers[i].stream;
    const char *streamed = !sm                            ? ""
                           : !kiln_cpu_engine_streams(e, i) ? (sm == 2 ? "+fold(off here)" : "+stream(off here)")
                           : sm == 2                        ? "+fold"
                           : sm == 3                        ? "+stream3"
                                                            : "+stream";
    if (run != e->layers[i].tactic && run >= 0) {
        snprintf(t->buf, sizeof t->buf, "%s->%s%s", kiln_cpu_tactic_name((kiln_op)e->g->nodes[i].op, e->layers[i].tactic),
                 kiln_cpu_tactic_name((kiln_op)e->g->nodes[i].op, run), streamed);
        return t->buf;
    }
    snprintf(t->buf, sizeof t->buf, "%s%s", kiln_cpu_tactic_name((kiln_op)e->g->nodes[i].op, e->layers[i].tactic), streamed);
    return t->buf;
}

/* The precision layer i runs at (FP16 engines keep overflowing layers in FP32). */
static const char *layer_precision(const kiln_engine *e, int i)
{
    return e->layers[i].precision == KILN_PRECISION_FP16 ? "FP16" : "FP32";
}
static const char *precision_name(const void *vctx, int i) { return layer_precision(((const tactic_ctx *)vctx)->e, i); }

/* FP16 engines: "FP16 engine: 3 layers kept in FP32 (range over 16384 on calibration data): conv5, ...; 1 by
 * --fp32-layers: dense"; "" for FP32 engines. A layer in FP32 whose range is within the limit was named by
 * --fp32-layers. */
static void precision_note(const kiln_engine *e, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (e->precision != KILN_PRECISION_FP16) return;
    int by_range = 0, forced = 0;
    for (int i = 0; i < e->g->n_nodes; i++)
        if (e->layers[i].precision == KILN_PRECISION_FP32) {
            if (e->layers[i].range > KILN_FP16_SAFE_RANGE) by_range++;
            else forced++;
        }
    size_t len = 0;
#define ADD(...) (len += len < cap ? (size_t)snprintf(buf + len, cap - len, __VA_ARGS__) : 0)
    int calibrated = 0;
    for (int i = 0; i < e->g->n_nodes; i++) calibrated |= e->layers[i].range >= 0.0f;
    if (!by_range && !forced) {
        if (calibrated)
            ADD("FP16 engine: every layer in FP16 (range at most %.0f on calibration data)", (double)KILN_FP16_SAFE_RANGE);
        else
            ADD("FP16 engine: every layer in FP16 (not calibrated: built with KILN_FP16_PROTECT=0)");
        return;
    }
    ADD("FP16 engine: %d layer%s kept in FP32 (range over %.0f on calibration data)", by_range, by_range == 1 ? "" : "s",
        (double)KILN_FP16_SAFE_RANGE);
    for (int pass = 0; pass < 2; pass++) {
        int listed = 0, total = pass ? forced : by_range;
        if (pass && forced) ADD("; %d by --fp32-layers", forced);
        for (int i = 0; i < e->g->n_nodes && total; i++) {
            const kiln_layer *l = &e->layers[i];
            if (l->precision != KILN_PRECISION_FP32 || (l->range > KILN_FP16_SAFE_RANGE) != !pass) continue;
            if (listed < 12) ADD("%s %s", listed ? "," : ":", e->g->values[e->g->nodes[i].output].name);
            else if (listed == 12) ADD(", ... (%d more)", total - 12);
            listed++;
        }
    }
#undef ADD
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

typedef struct {
    int views, concat_copies, concats_in_place, se_blocks, wide_convs, residual_convs;
} layer_counts;

static layer_counts count_layers(const kiln_engine *e)
{
    layer_counts c = { 0 };
    for (int i = 0; i < e->g->n_nodes; i++) {
        const kiln_node *n = &e->g->nodes[i];
        int v = is_view(e, i);
        c.views += v;
        if (n->op == KILN_OP_CONCAT) v ? c.concats_in_place++ : c.concat_copies++;
        c.se_blocks += n->op == KILN_OP_SQUEEZE_EXCITE;
        c.wide_convs += n->op == KILN_OP_CONV2D && strstr(n->name, " || ") != NULL;
        c.residual_convs += n->op == KILN_OP_CONV2D && n->n_inputs > 3;
    }
    return c;
}

static void describe_text(const kiln_engine *e, FILE *f)
{
    const kiln_graph *g = e->g;
    char sh[128], b1[32], b2[32], b3[32];
    fprintf(f, "engine: %s, %s, batch %d:%d, %d thread%s, from %s\n", kiln_target_name(e->target),
            e->precision == KILN_PRECISION_FP32 ? "FP32" : "FP16", e->batch_min, e->batch_max, e->threads,
            e->threads == 1 ? "" : "s", e->source_format[0] ? e->source_format : "?");
    if (e->pass_batch > 0)
        fprintf(f, "runs a batch in passes of %d sample%s through the layers\n",
                e->pass_batch, e->pass_batch == 1 ? "" : "s");
    int streams = 0, folds = 0;
    for (int i = 0; i < g->n_nodes; i++)
        streams += e->layers[i].stream == 1 || e->layers[i].stream == 3, folds += e->layers[i].stream == 2;
    if (streams)
        fprintf(f, "row streaming: %d expansion conv%s computed inside the depthwise conv after %s (tactic +stream; "
                   "+stream3: the projection conv after it too)\n",
                streams, streams == 1 ? "" : "s", streams == 1 ? "it" : "them");
    if (folds)
        fprintf(f, "squeeze-excite folding: %d squeeze-excite product%s computed by the 1x1 conv reading %s (tactic +fold)\n",
                folds, folds == 1 ? "" : "s", folds == 1 ? "it" : "them");
    for (int k = 0; k < 2; k++) {
        int n = k ? g->n_outputs : g->n_inputs;
        fprintf(f, "%s:\n", k ? "outputs" : "inputs");
        for (int i = 0; i < n; i++) {
            const kiln_value *v = &g->values[k ? g->outputs[i] : g->inputs[i]];
            fprintf(f, "  %d  %-24s %-20s %s %s\n", i, v->name, binding_shape(g, v, sh, sizeof sh),
                    dtype_name(v->dtype), layout_name(v->rank - g->fixed_shape));
        }
    }
    layer_counts c = count_layers(e);
    if (g->fixed_shape)
        fprintf(f, "fixed-shape engine: the model's own shapes, no batch axis (runs batch 1; layer shapes carry a "
                   "leading 1)\n");
    fprintf(f, "layers: %d after optimization (N = batch)\n", g->n_nodes);
    tactic_ctx t = { e, "" };
    kiln_print_layers_prec(g, f, tactic_name, precision_name, &t);
    fprintf(f, "summary:\n");
    char note[1024];
    precision_note(e, note, sizeof note);
    if (note[0]) fprintf(f, "  precision   %s\n", note);
    if (*kiln_cpu_engine_note(e)) fprintf(f, "  fallback    %s\n", kiln_cpu_engine_note(e));
    if (e->layers_imported > 0)
        fprintf(f, "  layers      %d imported -> %d after optimization (%d run a kernel, %d are views that copy nothing)\n",
                e->layers_imported, g->n_nodes, g->n_nodes - c.views, c.views);
    else
        fprintf(f, "  layers      %d (%d views)\n", g->n_nodes, c.views);
    if (e->n_pass_stats > 0) {
        fprintf(f, "  rewrites   ");
        int any = 0;
        for (int i = 0; i < e->n_pass_stats; i++)
            if (e->pass_rewrites[i]) fprintf(f, "%s %s %d", any++ ? "," : "", e->pass_name[i], e->pass_rewrites[i]);
        fprintf(f, "%s\n", any ? "" : " none");
    }
    fprintf(f, "  fused       %d conv+residual, %d squeeze-excite blocks, %d horizontal (||) convs; concat: %d in place, "
               "%d copy kernels\n",
            c.residual_convs, c.se_blocks, c.wide_convs, c.concats_in_place, c.concat_copies);
    human_bytes(e->weights_bytes, b1, sizeof b1);
    fprintf(f, "  parameters: %lld (weights %s)\n", (long long)kiln_graph_param_count(g), b1);
    human_bytes(e->arena_bytes, b1, sizeof b1);
    human_bytes(activation_total(e), b2, sizeof b2);
    human_bytes(e->plan_lower_bound, b3, sizeof b3);
    fprintf(f, "  memory at batch %d: activation arena %s; lower bound %s (most bytes live at once)", e->batch_max, b1,
            b3);
    if (e->plan_lower_bound > 0) fprintf(f, " = %.3fx", (double)e->arena_bytes / (double)e->plan_lower_bound);
    fprintf(f, "; all activations separately %s; workspace %lld B\n", b2, (long long)e->workspace_bytes);
}

static void split_sources(FILE *f, const char *name)
{
    /* "a + b || c + d" -> ["a","b","c","d"] */
    fputc('[', f);
    const char *p = name;
    int first = 1;
    while (*p) {
        const char *q1 = strstr(p, " + "), *q2 = strstr(p, " || ");
        const char *q = q1 && (!q2 || q1 < q2) ? q1 : q2;
        size_t len = q ? (size_t)(q - p) : strlen(p);
        char part[512];
        snprintf(part, sizeof part, "%.*s", (int)(len < sizeof part ? len : sizeof part - 1), p);
        fprintf(f, "%s", first ? "" : ",");
        first = 0;
        json_str(f, part);
        if (!q) break;
        p = q + (q == q1 ? 3 : 4);
    }
    fputc(']', f);
}

static void describe_json(const kiln_engine *e, FILE *f)
{
    const kiln_graph *g = e->g;
    fprintf(f, "{\n  \"Schema\": \"kiln-engine-info\",\n  \"SchemaVersion\": 2,\n");
    fprintf(f, "  \"Target\": \"%s\",\n  \"Precision\": \"%s\",\n  \"BatchMin\": %d,\n  \"BatchMax\": %d,\n"
               "  \"Threads\": %d,\n  \"SourceFormat\": ",
            kiln_target_name(e->target), e->precision == KILN_PRECISION_FP32 ? "FP32" : "FP16", e->batch_min,
            e->batch_max, e->threads);
    json_str(f, e->source_format);
    if (g->fixed_shape) fprintf(f, ",\n  \"FixedShape\": true");
    if (e->pass_batch > 0) fprintf(f, ",\n  \"PassBatch\": %d", e->pass_batch);
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
            json_dims(f, g, v, 1);
            fprintf(f, ", \"DataType\": \"%s\", \"Layout\": \"%s\"}", dtype_name(v->dtype),
                    layout_name(v->rank - g->fixed_shape));
        }
    }
    fprintf(f, "\n  ],\n  \"Layers\": [");
    tactic_ctx t = { e, "" };
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        fprintf(f, "%s\n    {\"Name\": ", i ? "," : "");
        json_str(f, n->name);
        fprintf(f, ", \"LayerType\": \"%s\", \"SourceLayers\": ", kiln_op_name((kiln_op)n->op));
        split_sources(f, n->name);
        fprintf(f, ", \"Inputs\": [");
        int fi = 1;
        for (int j = 0; j < n->n_inputs; j++) {
            const kiln_value *v = &g->values[n->inputs[j]];
            if (v->kind != KILN_VALUE_ACTIVATION) continue;
            fprintf(f, "%s{\"Name\": ", fi ? "" : ", ");
            fi = 0;
            json_str(f, v->name);
            fprintf(f, ", \"Dimensions\": ");
            json_dims(f, g, v, 0);
            fputc('}', f);
        }
        fprintf(f, "], \"Outputs\": [{\"Name\": ");
        json_str(f, g->values[n->output].name);
        fprintf(f, ", \"Dimensions\": ");
        json_dims(f, g, &g->values[n->output], 0);
        char ab[200];
        const char *act = act_of(n, ab, sizeof ab);
        fprintf(f, "}], \"Activation\": ");
        json_str(f, strcmp(act, "-") ? act : "linear");
        if (e->layers[i].stream == 1 || e->layers[i].stream == 3) fprintf(f, ", \"StreamedIntoNext\": %d", e->layers[i].stream == 3 ? 2 : 1);
        if (e->layers[i].stream == 2) fprintf(f, ", \"FoldedIntoNext\": true");
        fprintf(f, ", \"Precision\": \"%s\", \"TacticName\": ", layer_precision(e, i));
        json_str(f, tactic_name(&t, i));
        fprintf(f, ", \"Backend\": \"%s\", \"WorkspaceBytes\": %lld, \"ParameterCount\": %lld, \"View\": %s",
                e->layers[i].backend == 1 ? "cuda" : "cpu", (long long)e->layers[i].workspace,
                (long long)node_params(g, n), is_view(e, i) ? "true" : "false");
        /* FP16 engines: the calibration range (max |value| read or written; JSON has no inf: 3.4e38 stands for it) */
        if (e->layers[i].range >= 0.0f)
            fprintf(f, ", \"Range\": %.9g", isinf(e->layers[i].range) ? 3.4e38 : (double)e->layers[i].range);
        fputc('}', f);
    }
    layer_counts c = count_layers(e);
    fprintf(f, "\n  ],\n  \"Summary\": {\"LayersImported\": %d, \"Layers\": %d, \"KernelLayers\": %d, \"ViewLayers\": %d, "
               "\"Fusions\": {",
            e->layers_imported, g->n_nodes, g->n_nodes - c.views, c.views);
    for (int i = 0; i < e->n_pass_stats; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->pass_name[i]);
        fprintf(f, ": %d", e->pass_rewrites[i]);
    }
    fprintf(f, "}, \"ConcatsInPlace\": %d, \"ConcatCopies\": %d, \"SqueezeExciteBlocks\": %d, \"HorizontalConvs\": %d, "
               "\"ResidualConvs\": %d},\n",
            c.concats_in_place, c.concat_copies, c.se_blocks, c.wide_convs, c.residual_convs);
    char note[1024];
    precision_note(e, note, sizeof note);
    if (note[0]) {
        int kept = 0;
        for (int i = 0; i < g->n_nodes; i++) kept += e->layers[i].precision == KILN_PRECISION_FP32;
        fprintf(f, "  \"Fp32Layers\": %d,\n  \"PrecisionNote\": ", kept);
        json_str(f, note);
        fprintf(f, ",\n");
    }
    fprintf(f, "  \"ParameterCount\": %lld,\n  \"WeightsBytes\": %lld,\n  \"ArenaBytes\": %lld,\n"
               "  \"ArenaLowerBound\": %lld,\n  \"ActivationBytesTotal\": %lld,\n  \"WorkspaceBytes\": %lld\n}\n",
            (long long)kiln_graph_param_count(g), (long long)e->weights_bytes, (long long)e->arena_bytes,
            (long long)e->plan_lower_bound, (long long)activation_total(e), (long long)e->workspace_bytes);
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
