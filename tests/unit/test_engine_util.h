/* Helpers shared by the engine, pass and planner tests: hand-built graphs, a seeded random source, and the oracle.
 *
 * The oracle runs a graph node by node with the reference kernels, one malloc'd buffer per value and NO optimizer
 * passes: an independent path to the numbers the engine (passes + planner + weights block + file) must reproduce. */
#ifndef KILN_TEST_ENGINE_UTIL_H
#define KILN_TEST_ENGINE_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/act.h"
#include "core/graph.h"
#include "cpu/kernel.h"
#include "kiln.h"
#include "runtime/engine_internal.h"

static int t_failures;
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
            t_failures++;                                                     \
        }                                                                     \
    } while (0)
#define CHECK_OK(expr)                                                                                   \
    do {                                                                                                 \
        kiln_status st_ = (expr);                                                                        \
        if (st_ != KILN_OK) {                                                                            \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr, kiln_status_string(st_), \
                    kiln_last_error());                                                                  \
            t_failures++;                                                                                \
        }                                                                                                \
    } while (0)

/* xorshift32: reproducible across platforms. */
static uint32_t t_rng = 12345u;
static inline float t_uniform(float lo, float hi)
{
    t_rng ^= t_rng << 13;
    t_rng ^= t_rng >> 17;
    t_rng ^= t_rng << 5;
    return lo + (hi - lo) * (float)(t_rng >> 8) / 16777216.0f;
}
static inline void t_fill(float *p, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) p[i] = t_uniform(lo, hi);
}

static inline int t_const(kiln_graph *g, const char *name, int rank, const int64_t *dims, float lo, float hi)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    float *d = malloc(sizeof(float) * (size_t)n);
    t_fill(d, n, lo, hi);
    return kiln_graph_add_constant(g, name, rank, dims, d);
}

/* Conv2D (KxK, stride 1, 'same' padding) with bias. */
static inline int t_conv(kiln_graph *g, const char *name, int x, int k, int cout)
{
    char wn[128], bn[128];
    snprintf(wn, sizeof wn, "%s/kernel", name);
    snprintf(bn, sizeof bn, "%s/bias", name);
    int64_t cin = g->values[x].dims[3];
    int64_t wd[4] = { k, k, cin, cout }, bd[1] = { cout };
    float s = 1.0f / sqrtf((float)(k * k * cin));
    int ins[3] = { x, t_const(g, wn, 4, wd, -s, s), t_const(g, bn, 1, bd, -0.2f, 0.2f) };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = k;
    a.pads[0] = a.pads[1] = (k - 1) / 2;
    a.pads[2] = a.pads[3] = k / 2;
    return kiln_graph_add_node(g, KILN_OP_CONV2D, name, ins, 3, &a);
}

/* BatchNormalization with randomized statistics (as the Keras tests do). */
static inline int t_bn(kiln_graph *g, const char *name, int x)
{
    int64_t c = g->values[x].dims[g->values[x].rank - 1];
    int64_t d[1] = { c };
    char n1[128], n2[128], n3[128], n4[128];
    snprintf(n1, sizeof n1, "%s/gamma", name);
    snprintf(n2, sizeof n2, "%s/beta", name);
    snprintf(n3, sizeof n3, "%s/moving_mean", name);
    snprintf(n4, sizeof n4, "%s/moving_variance", name);
    int ins[5] = { x, t_const(g, n1, 1, d, 0.5f, 1.5f), t_const(g, n2, 1, d, -0.5f, 0.5f),
                   t_const(g, n3, 1, d, -0.3f, 0.3f), t_const(g, n4, 1, d, 0.2f, 1.5f) };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.eps = 1e-3f;
    return kiln_graph_add_node(g, KILN_OP_BATCHNORM, name, ins, 5, &a);
}

static inline int t_act(kiln_graph *g, const char *name, int x, kiln_act act)
{
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = act;
    return kiln_graph_add_node(g, KILN_OP_ACTIVATION, name, &x, 1, &a);
}

static inline int t_dense(kiln_graph *g, const char *name, int x, int units)
{
    char wn[128], bn[128];
    snprintf(wn, sizeof wn, "%s/kernel", name);
    snprintf(bn, sizeof bn, "%s/bias", name);
    int64_t cin = g->values[x].dims[g->values[x].rank - 1];
    int64_t wd[2] = { cin, units }, bd[1] = { units };
    float s = 1.0f / sqrtf((float)cin);
    int ins[3] = { x, t_const(g, wn, 2, wd, -s, s), t_const(g, bn, 1, bd, -0.1f, 0.1f) };
    return kiln_graph_add_node(g, KILN_OP_DENSE, name, ins, 3, NULL);
}

static inline int t_simple(kiln_graph *g, kiln_op op, const char *name, const int *ins, int n, int axis)
{
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.axis = axis;
    return kiln_graph_add_node(g, op, name, ins, n, &a);
}

/* conv + bn + relu + maxpool + dropout + flatten + same-shape reshape + dense + softmax("Logits"). Input [N,8,8,3]. */
static inline kiln_graph *t_graph_cnn(void)
{
    kiln_graph *g = kiln_graph_new();
    int64_t in_dims[4] = { 1, 8, 8, 3 };
    int x = kiln_graph_add_input(g, "input_1", 4, in_dims);
    x = t_conv(g, "conv2d_3", x, 3, 6);
    x = t_bn(g, "batch_normalization_3", x);
    x = t_act(g, "activation_3", x, kiln_act_relu());
    kiln_attrs pa;
    kiln_attrs_init(&pa);
    pa.kernel[0] = pa.kernel[1] = 2;
    pa.stride[0] = pa.stride[1] = 2;
    x = kiln_graph_add_node(g, KILN_OP_MAXPOOL, "max_pooling2d", &x, 1, &pa);
    x = t_simple(g, KILN_OP_IDENTITY, "dropout", &x, 1, 0);
    kiln_attrs ra;
    kiln_attrs_init(&ra);
    ra.rank = 1;
    ra.shape[0] = -1;
    x = kiln_graph_add_node(g, KILN_OP_RESHAPE, "flatten", &x, 1, &ra);
    ra.shape[0] = 4 * 4 * 6;
    x = kiln_graph_add_node(g, KILN_OP_RESHAPE, "reshape_same", &x, 1, &ra);
    x = t_dense(g, "dense", x, 10);
    x = t_simple(g, KILN_OP_SOFTMAX, "Logits", &x, 1, 1);
    kiln_graph_mark_output(g, x);
    return g;
}

/* Two branches joined by concat, a residual add, two outputs: "Probs" = sigmoid(dense(pool)) (an activation that gets
 * fused into the dense, so the output value must keep its name) and "Features" = the pooled vector (also read by
 * the dense). Input [N,6,6,4]. */
static inline kiln_graph *t_graph_branchy(void)
{
    kiln_graph *g = kiln_graph_new();
    int64_t in_dims[4] = { 1, 6, 6, 4 };
    int x = kiln_graph_add_input(g, "image", 4, in_dims);
    int a = t_act(g, "act_a", t_conv(g, "conv_a", x, 1, 8), kiln_act_relu());
    int b = t_act(g, "act_b", t_bn(g, "bn_b", t_conv(g, "conv_b", x, 3, 8)), kiln_act_make(KILN_ACT_SWISH, 0, 0, 0));
    int ab[2] = { a, b };
    int cat = t_simple(g, KILN_OP_CONCAT, "concat", ab, 2, 3);
    int c = t_bn(g, "bn_c", t_conv(g, "conv_c", cat, 1, 16));
    int sum_in[2] = { c, cat };
    int s = t_simple(g, KILN_OP_ADD, "add", sum_in, 2, 0);
    s = t_act(g, "relu6", s, kiln_act_make(KILN_ACT_RELU, 0.0f, 6.0f, 0.0f));
    kiln_attrs ga;
    kiln_attrs_init(&ga);
    int feat = kiln_graph_add_node(g, KILN_OP_GLOBAL_AVGPOOL, "Features", &s, 1, &ga);
    int d = t_dense(g, "dense_out", feat, 5);
    int probs = t_act(g, "Probs", d, kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0));
    kiln_graph_mark_output(g, probs);
    kiln_graph_mark_output(g, feat);
    return g;
}

static inline kiln_network *t_network(kiln_graph *g)
{
    kiln_network *net = calloc(1, sizeof(kiln_network));
    net->g = g;
    snprintf(net->format, sizeof net->format, "test");
    return net;
}
static inline void t_network_free(kiln_network *net)
{
    if (!net) return;
    kiln_graph_free(net->g);
    free(net->source_path);
    free(net);
}

/* The oracle: every node with its reference kernel, one buffer per value, for `batch` samples. outs[i] receives
 * graph output i. */
static inline void t_oracle(const kiln_graph *g, int batch, const float *const *ins, float **outs)
{
    float **buf = calloc((size_t)g->n_values, sizeof(float *));
    for (int v = 0; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        if (val->kind == KILN_VALUE_CONSTANT) continue;
        buf[v] = calloc((size_t)(kiln_value_numel(val) * batch), sizeof(float));
    }
    for (int i = 0; i < g->n_inputs; i++)
        memcpy(buf[g->inputs[i]], ins[i], sizeof(float) * (size_t)(kiln_value_numel(&g->values[g->inputs[i]]) * batch));
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        kiln_kernel_args a;
        memset(&a, 0, sizeof a);
        a.g = g;
        a.node = n;
        a.batch = batch;
        for (int j = 0; j < n->n_inputs; j++) {
            const kiln_value *v = &g->values[n->inputs[j]];
            a.in[j] = v->kind == KILN_VALUE_CONSTANT ? v->data : buf[n->inputs[j]];
        }
        a.out = buf[n->output];
        size_t ws = kiln_ref_workspace_bytes(g, n, batch);
        a.workspace = ws ? aligned_alloc(64, (ws + 63) / 64 * 64) : NULL;
        kiln_ref_kernel((kiln_op)n->op)(&a);
        free(a.workspace);
    }
    for (int i = 0; i < g->n_outputs; i++)
        memcpy(outs[i], buf[g->outputs[i]], sizeof(float) * (size_t)(kiln_value_numel(&g->values[g->outputs[i]]) * batch));
    for (int v = 0; v < g->n_values; v++) free(buf[v]);
    free(buf);
}

/* Run an engine through the public API on `batch` samples. */
static inline kiln_status t_run(kiln_context *ctx, int n_in, const float *const *ins, int n_out, float **outs, int batch)
{
    for (int i = 0; i < n_in; i++) kiln_context_bind_input(ctx, i, ins[i]);
    for (int i = 0; i < n_out; i++) kiln_context_bind_output(ctx, i, outs[i]);
    return kiln_context_run(ctx, batch);
}

/* A one-input, one-output engine on `batch` samples in a context of its own (each step checked). */
static inline void t_run_engine(const kiln_engine *e, const float *x, float *y, int batch)
{
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_context_create(e, &ctx));
    if (ctx) CHECK_OK(t_run(ctx, 1, &x, 1, &y, batch));
    kiln_context_free(ctx);
}

static inline float t_max_abs_diff(const float *a, const float *b, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

static inline int64_t t_numel_batch(const kiln_graph *g, int value, int batch)
{
    return kiln_value_numel(&g->values[value]) * batch;
}

#endif
