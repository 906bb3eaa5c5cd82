/* src/cpu/ref: the kernel table, and small cases worked out by hand (no Python needed, so they also run under
 * AddressSanitizer/UBSan in `make asan`). The broad random comparison against NumPy is tests/ops (ctest -L ops). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/act.h"
#include "core/graph.h"
#include "core/status.h"
#include "cpu/kernel.h"

static int failures, checks;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        checks++;                                                                                                      \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
        }                                                                                                              \
    } while (0)

static float *copy_of(const float *x, size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (n) memcpy(p, x, sizeof(float) * n);
    return p;
}

/* A one-node test graph: inputs added with add_act/add_const, then run() computes the node for `batch` samples. */
typedef struct {
    kiln_graph *g;
    int ids[KILN_MAX_NODE_INPUTS];
    const float *data[KILN_MAX_NODE_INPUTS];
    int n;
} one_node;

static void add_act(one_node *t, int rank, const int64_t *dims, const float *data)
{
    int64_t d[KILN_MAX_RANK];
    memcpy(d, dims, sizeof(int64_t) * (size_t)rank);
    d[0] = 1;
    t->data[t->n] = data;
    t->ids[t->n++] = kiln_graph_add_input(t->g, "x", rank, d);
}

static void add_const(one_node *t, int rank, const int64_t *dims, const float *data)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    t->ids[t->n] = kiln_graph_add_constant(t->g, "w", rank, dims, copy_of(data, n));
    t->data[t->n] = t->g->values[t->ids[t->n]].data;
    t->n++;
}

/* Runs the node; returns the malloc'd output (caller frees) and its float count, or NULL if the graph was refused. */
static float *run(one_node *t, kiln_op op, const kiln_attrs *at, int batch, int64_t *count)
{
    int out = kiln_graph_add_node(t->g, op, "node", t->ids, t->n, at);
    if (out < 0) {
        fprintf(stderr, "graph refused: %s\n", kiln_last_error());
        return NULL;
    }
    *count = batch * kiln_value_numel(&t->g->values[out]);
    float *y = malloc(sizeof(float) * (size_t)*count);
    kiln_kernel_args a = { .g = t->g, .node = &t->g->nodes[t->g->n_nodes - 1], .batch = batch, .out = y };
    for (int i = 0; i < t->n; i++) a.in[i] = t->data[i];
    kiln_ref_kernel(op)(&a);
    return y;
}

static void expect(const char *what, const float *got, const float *want, int64_t n)
{
    if (!got) {
        CHECK(0, "%s: not computed", what);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-6f + 1e-6f * fabsf(want[i]))) {
            CHECK(0, "%s: element %lld is %.9g, want %.9g", what, (long long)i, got[i], want[i]);
            return;
        }
    CHECK(1, "%s", what);
}

static void test_table(void)
{
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        CHECK(kiln_ref_kernel((kiln_op)op) != NULL, "no reference kernel for %s", kiln_op_name((kiln_op)op));
        kiln_node n = { .op = op };
        if (op == KILN_OP_SQUEEZE_EXCITE) continue; /* the one reference kernel with scratch (its pooled vector) */
        CHECK(kiln_ref_workspace_bytes(NULL, &n, 4) == 0, "%s asks for workspace", kiln_op_name((kiln_op)op));
    }
    CHECK(kiln_ref_kernel(KILN_OP_COUNT) == NULL, "out-of-range op has a kernel");
}

/* 3x3 all-ones kernel over a 3x3 image with 'same' padding counts the in-bounds neighbours: 4 6 4 / 6 9 6 / 4 6 4.
 * Sample 2 is twice sample 1; bias 1 then relu6 (max_value 6) clips. */
static void test_conv_counts(void)
{
    one_node t = { .g = kiln_graph_new() };
    float x[18], w[9], b[1] = { 1.0f };
    for (int i = 0; i < 9; i++) x[i] = 1.0f, x[9 + i] = 2.0f, w[i] = 1.0f;
    add_act(&t, 4, (int64_t[]){ 2, 3, 3, 1 }, x);
    add_const(&t, 4, (int64_t[]){ 3, 3, 1, 1 }, w);
    add_const(&t, 1, (int64_t[]){ 1 }, b);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.kernel[0] = at.kernel[1] = 3;
    at.pads[0] = at.pads[1] = at.pads[2] = at.pads[3] = 1;
    at.act = kiln_act_make(KILN_ACT_RELU, 0.0f, 6.0f, 0.0f);
    int64_t n;
    float *y = run(&t, KILN_OP_CONV2D, &at, 2, &n);
    const float want[18] = { 5, 6, 5, 6, 6, 6, 5, 6, 5, /* sample 2: 9 13 9 / 13 19 13 clipped to 6 */
                             6, 6, 6, 6, 6, 6, 6, 6, 6 };
    CHECK(n == 18, "conv output count %lld", (long long)n);
    expect("conv 3x3 same, bias, relu6, batch 2", y, want, 18);
    free(y);
    kiln_graph_free(t.g);
}

/* Depthwise with multiplier 2, 1x1 kernel: output channel c*2+j = x[c] * w[c*2+j] (Keras channel order). */
static void test_depthwise_multiplier(void)
{
    one_node t = { .g = kiln_graph_new() };
    const float x[2] = { 3.0f, 5.0f }, w[4] = { 1.0f, 10.0f, 100.0f, 1000.0f };
    add_act(&t, 4, (int64_t[]){ 1, 1, 1, 2 }, x);
    add_const(&t, 4, (int64_t[]){ 1, 1, 1, 4 }, w);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.groups = 2;
    int64_t n;
    float *y = run(&t, KILN_OP_CONV2D, &at, 1, &n);
    expect("depthwise multiplier channel order", y, (const float[]){ 3, 30, 500, 5000 }, 4);
    free(y);
    kiln_graph_free(t.g);
}

/* All-negative input with padding: a padded zero must never win the max; every window here sees -1 at best. */
static void test_maxpool_padding_never_wins(void)
{
    one_node t = { .g = kiln_graph_new() };
    const float x[4] = { -4.0f, -3.0f, -2.0f, -1.0f };
    add_act(&t, 4, (int64_t[]){ 1, 2, 2, 1 }, x);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.kernel[0] = at.kernel[1] = 2;
    at.pads[0] = at.pads[1] = at.pads[2] = at.pads[3] = 1;
    at.stride[0] = at.stride[1] = 2;
    int64_t n;
    float *y = run(&t, KILN_OP_MAXPOOL, &at, 1, &n);
    expect("maxpool 2x2/2 pad 1 on negatives", y, (const float[]){ -4, -3, -2, -1 }, 4);
    free(y);
    kiln_graph_free(t.g);
}

/* 3x3 average over a 2x2 image of ones with 1 pad on every side: excluding pads gives 1 everywhere; including them
 * gives 4/9 (each window holds 4 real cells). */
static void test_avgpool_count_include_pad(void)
{
    for (int cip = 0; cip <= 1; cip++) {
        one_node t = { .g = kiln_graph_new() };
        const float x[4] = { 1, 1, 1, 1 };
        add_act(&t, 4, (int64_t[]){ 1, 2, 2, 1 }, x);
        kiln_attrs at;
        kiln_attrs_init(&at);
        at.kernel[0] = at.kernel[1] = 3;
        at.pads[0] = at.pads[1] = at.pads[2] = at.pads[3] = 1;
        at.count_include_pad = cip;
        int64_t n;
        float *y = run(&t, KILN_OP_AVGPOOL, &at, 1, &n);
        const float v = cip ? 4.0f / 9.0f : 1.0f;
        expect(cip ? "avgpool count_include_pad=1" : "avgpool count_include_pad=0", y, (const float[]){ v, v, v, v },
               4);
        free(y);
        kiln_graph_free(t.g);
    }
}

/* Softmax of logits near 1000 (expf overflows without the max subtraction): 1000, 1001 -> 1/(1+e), e/(1+e). */
static void test_softmax_large(void)
{
    one_node t = { .g = kiln_graph_new() };
    const float x[2] = { 1000.0f, 1001.0f };
    add_act(&t, 2, (int64_t[]){ 1, 2 }, x);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.axis = 1;
    int64_t n;
    float *y = run(&t, KILN_OP_SOFTMAX, &at, 1, &n);
    const float e = expf(1.0f);
    expect("softmax of large logits", y, (const float[]){ 1.0f / (1.0f + e), e / (1.0f + e) }, 2);
    free(y);
    kiln_graph_free(t.g);
}

/* [N,1,2,2] activation minus a per-channel constant [2], batch 2, then fused leaky relu (slope 0.5). */
static void test_broadcast_constant(void)
{
    one_node t = { .g = kiln_graph_new() };
    const float x[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, c[2] = { 2, 10 };
    add_act(&t, 4, (int64_t[]){ 2, 1, 2, 2 }, x);
    add_const(&t, 1, (int64_t[]){ 2 }, c);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.act = kiln_act_make(KILN_ACT_RELU, 0.5f, INFINITY, 0.0f);
    int64_t n;
    float *y = run(&t, KILN_OP_SUB, &at, 2, &n);
    expect("sub per-channel constant + leaky relu", y, (const float[]){ -0.5f, -4, 1, -3, 3, -2, 5, -1 }, 8);
    free(y);
    kiln_graph_free(t.g);
}

/* Squeeze-excite: [N,2,1,2] * [N,1,1,2] where both hold 2 samples. */
static void test_broadcast_two_activations(void)
{
    one_node t = { .g = kiln_graph_new() };
    const float x[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, s[4] = { 10, 100, -1, 2 };
    add_act(&t, 4, (int64_t[]){ 2, 2, 1, 2 }, x);
    add_act(&t, 4, (int64_t[]){ 2, 1, 1, 2 }, s);
    int64_t n;
    float *y = run(&t, KILN_OP_MUL, NULL, 2, &n);
    expect("mul [N,H,W,C] by [N,1,1,C]", y, (const float[]){ 10, 200, 30, 400, -5, 12, -7, 16 }, 8);
    free(y);
    kiln_graph_free(t.g);
}

/* Concat on the channel axis of an activation and a one-sample constant, batch 2: the constant repeats per sample. */
static void test_concat_constant(void)
{
    one_node t = { .g = kiln_graph_new() };
    const float x[4] = { 1, 2, 3, 4 }, c[2] = { 9, 8 };
    add_act(&t, 2, (int64_t[]){ 2, 2 }, x);
    add_const(&t, 2, (int64_t[]){ 1, 2 }, c);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.axis = 1;
    int64_t n;
    float *y = run(&t, KILN_OP_CONCAT, &at, 2, &n);
    expect("concat with a constant", y, (const float[]){ 1, 2, 9, 8, 3, 4, 9, 8 }, 8);
    free(y);
    kiln_graph_free(t.g);
}

/* NHWC [1,2,3,1] -> NCHW-like perm (0,3,1,2) and a pad of the last axis. */
static void test_transpose_pad(void)
{
    one_node t = { .g = kiln_graph_new() };
    const float x[6] = { 1, 2, 3, 4, 5, 6 };
    add_act(&t, 3, (int64_t[]){ 1, 2, 3 }, x);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.rank = 3;
    at.perm[0] = 0, at.perm[1] = 2, at.perm[2] = 1;
    int64_t n;
    float *y = run(&t, KILN_OP_TRANSPOSE, &at, 1, &n);
    expect("transpose (0,2,1)", y, (const float[]){ 1, 4, 2, 5, 3, 6 }, 6);
    free(y);

    kiln_attrs_init(&at);
    at.rank = 3;
    at.pads_begin[2] = 1;
    at.pads_end[1] = 1;
    at.pad_value = -7.0f;
    y = run(&t, KILN_OP_PAD, &at, 1, &n);
    expect("pad (0,0),(0,1),(1,0) value -7", y, (const float[]){ -7, 1, 2, 3, -7, 4, 5, 6, -7, -7, -7, -7 }, 12);
    free(y);
    kiln_graph_free(t.g);
}

int main(void)
{
    test_table();
    test_conv_counts();
    test_depthwise_multiplier();
    test_maxpool_padding_never_wins();
    test_avgpool_count_include_pad();
    test_softmax_large();
    test_broadcast_constant();
    test_broadcast_two_activations();
    test_concat_constant();
    test_transpose_pad();
    printf("test_ref_ops: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
