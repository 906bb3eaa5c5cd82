/* Optimizer passes, one behaviour at a time: what each pass rewrites, what it must leave alone (shared values,
 * producers with an activation already, graph outputs), the names it gives, and that the rewritten graph computes
 * what the original does (reference kernels on both graphs). */
#include "opt/opt.h"
#include "test_engine_util.h"

static int count_op(const kiln_graph *g, kiln_op op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].op == (int)op;
    return n;
}

/* Oracle on `orig` vs the same oracle on `opt` (a rewritten copy): equal within tol for batch 2. */
static void check_same_function(const char *label, const kiln_graph *orig, const kiln_graph *opt)
{
    const int batch = 2;
    CHECK(orig->n_inputs == 1 && opt->n_inputs == 1 && orig->n_outputs == opt->n_outputs, "%s: io counts", label);
    int64_t in_n = t_numel_batch(orig, orig->inputs[0], batch);
    float *x = malloc(sizeof(float) * (size_t)in_n);
    t_fill(x, in_n, -1, 1);
    for (int o = 0; o < orig->n_outputs; o++)
        CHECK(!strcmp(orig->values[orig->outputs[o]].name, opt->values[opt->outputs[o]].name),
              "%s: output %d renamed '%s' -> '%s'", label, o, orig->values[orig->outputs[o]].name,
              opt->values[opt->outputs[o]].name);
    float *a[4], *b[4];
    for (int o = 0; o < orig->n_outputs; o++) {
        int64_t n = t_numel_batch(orig, orig->outputs[o], batch);
        a[o] = calloc((size_t)n, sizeof(float));
        b[o] = calloc((size_t)n, sizeof(float));
    }
    t_oracle(orig, batch, (const float *const[]){ x }, a);
    t_oracle(opt, batch, (const float *const[]){ x }, b);
    for (int o = 0; o < orig->n_outputs; o++) {
        float d = t_max_abs_diff(a[o], b[o], t_numel_batch(orig, orig->outputs[o], batch));
        CHECK(d <= 1e-5f, "%s: output %d differs by %g after the passes", label, o, d);
        free(a[o]);
        free(b[o]);
    }
    free(x);
}

static kiln_graph *optimized(const kiln_graph *g, const char *disabled)
{
    kiln_graph *c = kiln_graph_clone(g);
    CHECK_OK(kiln_opt_run(c, disabled, 0));
    return c;
}

static void test_pipeline_table(void)
{
    static const char *const names[] = { "remove_identity",     "cancel_transpose", "fold_constants",
                                         "fold_batchnorm",      "batchnorm_to_scale", "fold_pad",
                                         "fuse_residual",       "fuse_swish",       "fuse_activation",  "swap_avgpool_conv", "fuse_squeeze_excite",
                                         "fuse_horizontal",     "eliminate_concat", "in_place" };
    const int n = (int)(sizeof names / sizeof names[0]);
    CHECK(kiln_opt_num_passes() == n, "%d passes", kiln_opt_num_passes());
    for (int i = 0; i < n && i < kiln_opt_num_passes(); i++)
        CHECK(!strcmp(kiln_opt_pass(i)->name, names[i]), "pass %d is %s, expected %s", i, kiln_opt_pass(i)->name,
              names[i]);
    CHECK(kiln_opt_pass(n) == NULL, "pipeline end");
    CHECK_OK(kiln_opt_check_pass_list("all"));
    CHECK_OK(kiln_opt_check_pass_list(" fold_batchnorm , fuse_activation,"));
    CHECK_OK(kiln_opt_check_pass_list(NULL));
    CHECK(kiln_opt_check_pass_list("fold_batchnorms") == KILN_ERR_INVALID_ARGUMENT &&
              strstr(kiln_last_error(), "remove_identity, cancel_transpose, fold_constants, fold_batchnorm"),
          "unknown pass message: %s", kiln_last_error());
}

static void test_identity(void)
{
    int64_t d4[4] = { 1, 4, 4, 2 };
    /* identity chain in the middle, identity writing the graph output */
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    int c = t_conv(g, "conv", x, 3, 3);
    int i1 = t_simple(g, KILN_OP_IDENTITY, "dropout_1", &c, 1, 0);
    int i2 = t_simple(g, KILN_OP_IDENTITY, "dropout_2", &i1, 1, 0);
    int r = t_act(g, "relu", i2, kiln_act_relu());
    int d = t_dense(g, "dense", r, 5);
    int out = t_simple(g, KILN_OP_IDENTITY, "Out", &d, 1, 0);
    kiln_graph_mark_output(g, out);
    kiln_graph *o = optimized(g, "fold_batchnorm,fuse_activation");
    CHECK(o->n_nodes == 3 && count_op(o, KILN_OP_IDENTITY) == 0, "%d nodes left", o->n_nodes);
    CHECK(!strcmp(o->nodes[2].name, "dense + Out") && !strcmp(o->values[o->outputs[0]].name, "Out"),
          "output node '%s' value '%s'", o->nodes[2].name, o->values[o->outputs[0]].name);
    check_same_function("identity chain", g, o);
    kiln_graph_free(o);
    /* disabled: nothing happens */
    o = optimized(g, "remove_identity");
    CHECK(count_op(o, KILN_OP_IDENTITY) == 3, "remove_identity disabled but identities went");
    kiln_graph_free(o);
    kiln_graph_free(g);

    /* an identity of a graph input that is a graph output stays (nothing else can write the output) */
    g = kiln_graph_new();
    x = kiln_graph_add_input(g, "in", 4, d4);
    out = t_simple(g, KILN_OP_IDENTITY, "copy", &x, 1, 0);
    kiln_graph_mark_output(g, out);
    o = optimized(g, NULL);
    CHECK(o->n_nodes == 1 && o->outputs[0] != o->inputs[0], "input->identity->output rewritten");
    kiln_graph_free(o);
    kiln_graph_free(g);

    /* a producer read by an identity that is an output AND by another node: the identity stays */
    g = kiln_graph_new();
    x = kiln_graph_add_input(g, "in", 4, d4);
    c = t_conv(g, "conv", x, 1, 2);
    out = t_simple(g, KILN_OP_IDENTITY, "Out", &c, 1, 0);
    int other = t_act(g, "Other", c, kiln_act_relu());
    kiln_graph_mark_output(g, out);
    kiln_graph_mark_output(g, other);
    o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_IDENTITY) == 1, "shared identity output removed");
    check_same_function("identity output with a shared producer", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

/* Mul(x, Sigmoid(x)) -> swish(x), then fused into x's producer; the hard-sigmoid (1/6, 1/2) form -> hard_swish;
 * a gate read twice, or a sigmoid of another tensor, stays. */
static void test_swish(void)
{
    int64_t d4[4] = { 1, 4, 4, 3 };
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    int c = t_conv(g, "conv", x, 3, 4);
    int s = t_act(g, "sigmoid", c, kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0));
    int m = t_simple(g, KILN_OP_MUL, "mul", (int[]){ s, c }, 2, 0);
    int c2 = t_conv(g, "conv_2", m, 1, 4);
    int h = t_act(g, "hsig", c2, kiln_act_make(KILN_ACT_HARD_SIGMOID, 1.0f / 6.0f, 0.5f, 0));
    int m2 = t_simple(g, KILN_OP_MUL, "mul_2", (int[]){ c2, h }, 2, 0);
    kiln_graph_mark_output(g, m2);
    kiln_graph *o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_MUL) == 0 && count_op(o, KILN_OP_ACTIVATION) == 0, "swish pairs left: %d nodes",
          o->n_nodes);
    int swish = 0, hswish = 0;
    for (int i = 0; i < o->n_nodes; i++) {
        swish += o->nodes[i].op == KILN_OP_CONV2D && o->nodes[i].attrs.act.kind == KILN_ACT_SWISH;
        hswish += o->nodes[i].op == KILN_OP_CONV2D && o->nodes[i].attrs.act.kind == KILN_ACT_HARD_SWISH;
    }
    CHECK(swish == 1 && hswish == 1, "swish %d hard_swish %d", swish, hswish);
    check_same_function("swish", g, o);
    kiln_graph_free(o);
    o = optimized(g, "fuse_swish");
    CHECK(count_op(o, KILN_OP_MUL) == 2, "fuse_swish disabled but muls went");
    kiln_graph_free(o);
    kiln_graph_free(g);

    /* the gate is also a graph output: nothing fuses */
    g = kiln_graph_new();
    x = kiln_graph_add_input(g, "in", 4, d4);
    c = t_conv(g, "conv", x, 3, 4);
    s = t_act(g, "sigmoid", c, kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0));
    m = t_simple(g, KILN_OP_MUL, "mul", (int[]){ c, s }, 2, 0);
    kiln_graph_mark_output(g, m);
    kiln_graph_mark_output(g, s);
    o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_MUL) == 1, "a gate that is an output was fused");
    kiln_graph_free(o);
    kiln_graph_free(g);
}

static void test_fold(void)
{
    int64_t d4[4] = { 1, 5, 5, 3 };
    /* two calls of one Keras layer (shared weights), each followed by its own BN: both fold, the shared original
     * constant is untouched */
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    int c1 = t_conv(g, "conv", x, 3, 3);
    const kiln_node *n1 = &g->nodes[g->values[c1].producer];
    int ins[3] = { c1, n1->inputs[1], n1->inputs[2] };
    kiln_attrs a = n1->attrs;
    int c2 = kiln_graph_add_node(g, KILN_OP_CONV2D, "conv_again", ins, 3, &a);
    int b1 = t_bn(g, "bn_1", c1);
    (void)b1;
    int b2 = t_bn(g, "bn_2", c2);
    kiln_graph_mark_output(g, b2);
    /* c1 is read by conv_again AND bn_1: bn_1 must not fold (and is dead anyway: compact drops it) */
    int wid = n1->inputs[1];
    int64_t wn = kiln_value_numel(&g->values[wid]);
    float *before = malloc(sizeof(float) * (size_t)wn);
    memcpy(before, g->values[wid].data, sizeof(float) * (size_t)wn);
    kiln_graph *o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_BATCHNORM) == 0 && o->n_nodes == 2, "%d nodes, %d BN", o->n_nodes,
          count_op(o, KILN_OP_BATCHNORM));
    CHECK(!strcmp(o->nodes[1].name, "conv_again + bn_2"), "name '%s'", o->nodes[1].name);
    CHECK(o->nodes[0].inputs[1] != o->nodes[1].inputs[1], "folded weights shared between the two convs");
    CHECK(!memcmp(before, g->values[wid].data, sizeof(float) * (size_t)wn), "the network's weights changed");
    check_same_function("shared-weight conv + BN", g, o);
    kiln_graph_free(o);
    free(before);
    kiln_graph_free(g);

    /* BN after a conv read twice: not folded; BN after a conv with a fused activation: not folded */
    g = kiln_graph_new();
    x = kiln_graph_add_input(g, "in", 4, d4);
    c1 = t_conv(g, "conv1", x, 1, 3);
    int bn = t_bn(g, "bn", c1);
    int sum_in[2] = { bn, c1 };
    int s = t_simple(g, KILN_OP_ADD, "add", sum_in, 2, 0);
    c2 = t_conv(g, "conv2", s, 1, 3);
    g->nodes[g->values[c2].producer].attrs.act = kiln_act_relu();
    int bn2 = t_bn(g, "bn2", c2);
    kiln_graph_mark_output(g, bn2);
    o = optimized(g, "batchnorm_to_scale");
    CHECK(count_op(o, KILN_OP_BATCHNORM) == 2, "folded a BN it must not fold (%d left)", count_op(o, KILN_OP_BATCHNORM));
    check_same_function("unfoldable BNs", g, o);
    kiln_graph_free(o);
    /* ... which batchnorm_to_scale turns into per-channel scale-shifts (1x1 depthwise convs) */
    o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_BATCHNORM) == 0, "lone BNs left: %d", count_op(o, KILN_OP_BATCHNORM));
    check_same_function("lone BNs as scale-shift", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);

    /* Dense without bias + BN on [N, C] */
    g = kiln_graph_new();
    int64_t d2[2] = { 1, 7 };
    x = kiln_graph_add_input(g, "in", 2, d2);
    int64_t wd[2] = { 7, 4 };
    int dins[2] = { x, t_const(g, "dense/kernel", 2, wd, -1, 1) };
    int dn = kiln_graph_add_node(g, KILN_OP_DENSE, "dense", dins, 2, NULL);
    int db = t_bn(g, "bn", dn);
    kiln_graph_mark_output(g, db);
    o = optimized(g, NULL);
    CHECK(o->n_nodes == 1 && o->nodes[0].n_inputs == 3, "dense+BN: %d nodes", o->n_nodes);
    check_same_function("dense (no bias) + BN", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

static void test_fuse(void)
{
    int64_t d4[4] = { 1, 4, 4, 2 };
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    /* conv already has relu: the sigmoid after it stays a node */
    int c = t_conv(g, "conv", x, 3, 2);
    g->nodes[g->values[c].producer].attrs.act = kiln_act_relu();
    int sg = t_act(g, "sigmoid", c, kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0));
    /* maxpool is a fusion target: the tanh fuses into it */
    kiln_attrs pa;
    kiln_attrs_init(&pa);
    int mp = kiln_graph_add_node(g, KILN_OP_MAXPOOL, "pool", &sg, 1, &pa);
    int t = t_act(g, "tanh", mp, kiln_act_make(KILN_ACT_TANH, 0, 0, 0));
    /* add + leaky relu fuses, and the output keeps the activation's name */
    int ai[2] = { t, x };
    int ad = t_simple(g, KILN_OP_ADD, "add", ai, 2, 0);
    int lr = t_act(g, "Out", ad, kiln_act_make(KILN_ACT_RELU, 0.1f, INFINITY, 0.0f));
    kiln_graph_mark_output(g, lr);
    kiln_graph *o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_ACTIVATION) == 1 && o->n_nodes == 4, "%d nodes, %d activations", o->n_nodes,
          count_op(o, KILN_OP_ACTIVATION));
    CHECK(!strcmp(o->nodes[o->n_nodes - 1].name, "add + Out") &&
              o->nodes[o->n_nodes - 1].attrs.act.kind == KILN_ACT_RELU &&
              o->nodes[o->n_nodes - 1].attrs.act.alpha == 0.1f,
          "last node '%s'", o->nodes[o->n_nodes - 1].name);
    check_same_function("activation fusion", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

static int t_pad(kiln_graph *g, const char *name, int x, int t, int l, int b, int r, float value)
{
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 4;
    a.pads_begin[1] = t, a.pads_begin[2] = l, a.pads_end[1] = b, a.pads_end[2] = r;
    a.pad_value = value;
    return kiln_graph_add_node(g, KILN_OP_PAD, name, &x, 1, &a);
}

static int t_pool(kiln_graph *g, kiln_op op, const char *name, int x, int k, int s)
{
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = k;
    a.stride[0] = a.stride[1] = s;
    return kiln_graph_add_node(g, op, name, &x, 1, &a);
}

/* fold_pad: zero pad into conv and avgpool; into maxpool only when the input is >= 0 (after relu); never for a
 * maxpool reading a tensor that may be negative (the zeros would win the max). */
static void test_fold_pad(void)
{
    int64_t d4[4] = { 1, 6, 6, 3 };
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    int p1 = t_pad(g, "zero_padding2d", x, 1, 0, 1, 2, 0.0f);
    int c = t_conv(g, "conv2d", p1, 3, 4);                                  /* folds */
    int p2 = t_pad(g, "pad_raw", c, 1, 1, 1, 1, 0.0f);
    int m1 = t_pool(g, KILN_OP_MAXPOOL, "max_raw", p2, 3, 2);               /* may be negative: stays */
    int r = t_act(g, "relu", m1, kiln_act_relu());
    int p3 = t_pad(g, "pad_relu", r, 1, 1, 0, 0, 0.0f);
    int m2 = t_pool(g, KILN_OP_MAXPOOL, "max_relu", p3, 2, 1);              /* relu'd: folds */
    int p4 = t_pad(g, "pad_avg", m2, 0, 1, 1, 0, 0.0f);
    int a = t_pool(g, KILN_OP_AVGPOOL, "avg", p4, 2, 1);                    /* folds, counting the pad cells */
    kiln_graph_mark_output(g, a);
    kiln_graph *o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_PAD) == 1, "%d pads left (expected only the one before the raw max pool)",
          count_op(o, KILN_OP_PAD));
    int found = 0;
    for (int i = 0; i < o->n_nodes; i++) {
        found += !strcmp(o->nodes[i].name, "zero_padding2d + conv2d");
        found += !strcmp(o->nodes[i].name, "pad_relu + max_relu");
        found += !strcmp(o->nodes[i].name, "pad_avg + avg") && o->nodes[i].attrs.count_include_pad == 1;
    }
    CHECK(found == 3, "fold_pad names/attrs: %d of 3", found);
    check_same_function("fold_pad", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

static int t_avgpool_same(kiln_graph *g, const char *name, int x, int s, int include_pad)
{
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = 3;
    a.stride[0] = a.stride[1] = s;
    a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
    a.count_include_pad = include_pad;
    return kiln_graph_add_node(g, KILN_OP_AVGPOOL, name, &x, 1, &a);
}

/* swap_avgpool_conv: avgpool 3x3/1 'same' (in-bounds cells only) -> 1x1 conv -> relu becomes 1x1 conv -> avgpool
 * with the relu; a downsampling pool, a pool counting its padding and a conv widening the channels stay as they are. */
static void test_swap_avgpool_conv(void)
{
    int64_t d4[4] = { 1, 7, 6, 8 };
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    int a = t_act(g, "relu_a", t_conv(g, "conv_a", t_avgpool_same(g, "pool_a", x, 1, 0), 1, 3), kiln_act_relu());
    int b = t_conv(g, "conv_b", t_avgpool_same(g, "pool_b", x, 2, 0), 1, 3);
    int c = t_conv(g, "conv_c", t_avgpool_same(g, "pool_c", x, 1, 1), 1, 3);
    int d = t_conv(g, "conv_d", t_avgpool_same(g, "pool_d", x, 1, 0), 1, 12);
    kiln_graph_mark_output(g, a);
    kiln_graph_mark_output(g, b);
    kiln_graph_mark_output(g, c);
    kiln_graph_mark_output(g, d);
    kiln_graph *o = optimized(g, NULL);
    int swapped = 0, kept = 0;
    for (int i = 0; i < o->n_nodes; i++) {
        const kiln_node *n = &o->nodes[i];
        const int pi = o->values[n->inputs[0]].producer;
        const kiln_node *prod = pi >= 0 ? &o->nodes[pi] : NULL;
        if (n->op == KILN_OP_AVGPOOL && !strcmp(n->name, "pool_a") && prod && prod->op == KILN_OP_CONV2D &&
            n->attrs.act.kind == KILN_ACT_RELU && prod->attrs.act.kind == KILN_ACT_NONE &&
            o->values[n->inputs[0]].dims[3] == 3 && n->output == o->outputs[0])
            swapped++;
        if (n->op == KILN_OP_CONV2D && prod && prod->op == KILN_OP_AVGPOOL) kept++;
    }
    CHECK(swapped == 1, "pool_a not after conv_a, with conv_a's relu");
    CHECK(kept == 3, "%d of the 3 convs that must keep reading their pool do", kept);
    check_same_function("swap_avgpool_conv", g, o);
    kiln_graph *off = optimized(g, "swap_avgpool_conv");
    CHECK(count_op(off, KILN_OP_AVGPOOL) == 4, "switched off");
    int still = 0;
    for (int i = 0; i < off->n_nodes; i++)
        still += off->nodes[i].op == KILN_OP_CONV2D &&
                 off->values[off->nodes[i].inputs[0]].producer >= 0 &&
                 off->nodes[off->values[off->nodes[i].inputs[0]].producer].op == KILN_OP_AVGPOOL;
    CHECK(still == 4, "switched off: %d of 4 convs read their pool", still);
    kiln_graph_free(off);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

/* fuse_residual: relu(conv(y) + x) -> one conv with x as its 4th input; transposes that cancel disappear. */
static void test_residual_and_transpose(void)
{
    int64_t d4[4] = { 1, 5, 5, 4 };
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    kiln_attrs ta;
    kiln_attrs_init(&ta);
    ta.rank = 4;
    ta.perm[0] = 0, ta.perm[1] = 3, ta.perm[2] = 1, ta.perm[3] = 2; /* NHWC -> NCHW */
    int t1 = kiln_graph_add_node(g, KILN_OP_TRANSPOSE, "to_nchw", &x, 1, &ta);
    ta.perm[1] = 2, ta.perm[2] = 3, ta.perm[3] = 1;                 /* NCHW -> NHWC */
    int t2 = kiln_graph_add_node(g, KILN_OP_TRANSPOSE, "to_nhwc", &t1, 1, &ta);
    int c1 = t_act(g, "relu_a", t_conv(g, "conv_a", t2, 3, 4), kiln_act_relu());
    int c2 = t_bn(g, "bn_b", t_conv(g, "conv_b", c1, 3, 4));
    int ins[2] = { c1, c2 };
    int add = t_simple(g, KILN_OP_ADD, "add", ins, 2, 0);
    int out = t_act(g, "Out", add, kiln_act_relu());
    kiln_graph_mark_output(g, out);
    kiln_graph *o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_TRANSPOSE) == 0 && count_op(o, KILN_OP_ADD) == 0 && o->n_nodes == 2,
          "%d nodes, %d transposes, %d adds", o->n_nodes, count_op(o, KILN_OP_TRANSPOSE), count_op(o, KILN_OP_ADD));
    CHECK(o->n_nodes == 2 && o->nodes[1].n_inputs == 4 && !strcmp(o->nodes[1].name, "conv_b + bn_b + add + Out") &&
              o->nodes[1].attrs.act.kind == KILN_ACT_RELU,
          "residual conv '%s'", o->nodes[o->n_nodes - 1].name);
    check_same_function("residual + transposes", g, o);
    kiln_graph_free(o);
    o = optimized(g, "fuse_residual");
    CHECK(count_op(o, KILN_OP_ADD) == 1, "fuse_residual disabled but the add went");
    check_same_function("residual disabled", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

/* fuse_squeeze_excite: GAP -> Reshape -> 1x1 conv swish -> 1x1 conv sigmoid -> Multiply is one node. */
static void test_squeeze_excite(void)
{
    int64_t d4[4] = { 1, 4, 4, 8 };
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    int xc = t_act(g, "swish_x", t_conv(g, "conv_x", x, 3, 8), kiln_act_make(KILN_ACT_SWISH, 0, 0, 0));
    kiln_attrs ga;
    kiln_attrs_init(&ga);
    int gap = kiln_graph_add_node(g, KILN_OP_GLOBAL_AVGPOOL, "gap", &xc, 1, &ga);
    kiln_attrs ra;
    kiln_attrs_init(&ra);
    ra.rank = 3, ra.shape[0] = 1, ra.shape[1] = 1, ra.shape[2] = 8;
    int rs = kiln_graph_add_node(g, KILN_OP_RESHAPE, "reshape", &gap, 1, &ra);
    int r1 = t_act(g, "swish_r", t_conv(g, "se_reduce", rs, 1, 2), kiln_act_make(KILN_ACT_SWISH, 0, 0, 0));
    int e1 = t_act(g, "sigm", t_conv(g, "se_expand", r1, 1, 8), kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0));
    int mi[2] = { xc, e1 };
    int m = t_simple(g, KILN_OP_MUL, "multiply", mi, 2, 0);
    kiln_graph_mark_output(g, m);
    kiln_graph *o = optimized(g, NULL);
    CHECK(count_op(o, KILN_OP_SQUEEZE_EXCITE) == 1 && o->n_nodes == 2, "%d nodes, %d SE", o->n_nodes,
          count_op(o, KILN_OP_SQUEEZE_EXCITE));
    CHECK(o->n_nodes == 2 && !strcmp(o->nodes[1].name, "gap + reshape + se_reduce + swish_r + se_expand + sigm + multiply"),
          "SE name '%s'", o->nodes[o->n_nodes - 1].name);
    check_same_function("squeeze-excite", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

/* fuse_horizontal: three sibling 1x1 convs of one tensor -> one wide conv "a || b || c" + slices; the one feeding
 * the concat's first input goes last. */
static void test_horizontal(void)
{
    int64_t d4[4] = { 1, 5, 5, 6 };
    kiln_graph *g = kiln_graph_new();
    int x = kiln_graph_add_input(g, "in", 4, d4);
    int a = t_act(g, "act_a", t_conv(g, "conv_a", x, 1, 4), kiln_act_relu());
    int b = t_act(g, "act_b", t_conv(g, "conv_b", x, 1, 3), kiln_act_relu());
    int c = t_act(g, "act_c", t_conv(g, "conv_c", x, 1, 5), kiln_act_relu());
    int b2 = t_conv(g, "conv_b2", b, 3, 4);
    int c2 = t_conv(g, "conv_c2", c, 3, 2);
    int cat_in[3] = { a, b2, c2 };
    int cat = t_simple(g, KILN_OP_CONCAT, "concat", cat_in, 3, 3);
    kiln_graph_mark_output(g, cat);
    kiln_graph *o = optimized(g, NULL);
    int wide = -1;
    for (int i = 0; i < o->n_nodes; i++)
        if (strstr(o->nodes[i].name, " || ")) wide = i;
    CHECK(wide >= 0 && !strcmp(o->nodes[wide].name, "conv_b + act_b || conv_c + act_c || conv_a + act_a"),
          "wide conv '%s'", wide >= 0 ? o->nodes[wide].name : "(none)");
    CHECK(g->n_outputs == 1 && count_op(o, KILN_OP_SLICE) == 3, "%d slices", count_op(o, KILN_OP_SLICE));
    check_same_function("horizontal fusion + constant folding", g, o);
    kiln_graph_free(o);
    kiln_graph_free(g);
}

int main(void)
{
    t_rng = 31337u;
    test_pipeline_table();
    test_swish();
    test_identity();
    test_fold();
    test_fuse();
    test_fold_pad();
    test_swap_avgpool_conv();
    test_residual_and_transpose();
    test_squeeze_excite();
    test_horizontal();
    if (t_failures) {
        fprintf(stderr, "test_passes: %d check(s) failed\n", t_failures);
        return 1;
    }
    printf("test_passes: all checks passed\n");
    return 0;
}
