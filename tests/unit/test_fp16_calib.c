/* FP16 overflow protection, the CPU side (no GPU needed): calibration ranges, per-layer precision marking, the engine
 * file round trip of per-layer precisions (format v3) and what `kiln inspect` says about them.
 *
 * The graph: x [N,4,4,3] in [-1,1] -> conv_a (3x3, 8 ch, small weights) -> big = Add(conv_a, 80000) (output ~8e4,
 * far above FP16's 65504) -> back = Sub(big, 80000) (small output, but it READS big) -> tail = conv 1x1 (small: FP16);
 * and preact = conv 1x1 + ReLU on back with bias -30000 (output 0, pre-activation ~-3e4: above the 16384 limit).
 * Expected: big, back, preact FP32; conv_a, tail FP16. The ranges are checked against an independent computation:
 * kiln's reference kernels run node by node by the test oracle (tests/unit/test_engine_util.h), every intermediate
 * value being a graph output there. */
#include "runtime/calibrate.h"
#include "test_engine_util.h"

enum { L_CONV_A, L_BIG, L_BACK, L_TAIL, L_PREACT, L_COUNT };

static int per_channel(kiln_graph *g, const char *name, int c, float v)
{
    float *d = malloc(sizeof(float) * (size_t)c);
    for (int i = 0; i < c; i++) d[i] = v;
    int64_t dims[1] = { c };
    return kiln_graph_add_constant(g, name, 1, dims, d);
}

static int conv1x1(kiln_graph *g, const char *name, int x, int cout, float bias, kiln_act act)
{
    int64_t cin = g->values[x].dims[3];
    int64_t wd[4] = { 1, 1, cin, cout };
    char wn[64];
    snprintf(wn, sizeof wn, "%s/kernel", name);
    int ins[3] = { x, t_const(g, wn, 4, wd, -0.5f, 0.5f), 0 };
    char bn[64];
    snprintf(bn, sizeof bn, "%s/bias", name);
    ins[2] = per_channel(g, bn, cout, bias);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = 1;
    a.act = act;
    return kiln_graph_add_node(g, KILN_OP_CONV2D, name, ins, 3, &a);
}

/* The test graph; *vals gets the value ids of the five layers' outputs. all_outputs: every one is a graph output
 * (for the oracle), else only tail and preact. The constant weights come from t_rng: reset it first for the same graph. */
static kiln_graph *make_graph(int all_outputs, int *vals)
{
    kiln_graph *g = kiln_graph_new();
    int64_t d[4] = { 1, 4, 4, 3 };
    int x = kiln_graph_add_input(g, "x", 4, d);
    vals[L_CONV_A] = t_conv(g, "conv_a", x, 3, 8);
    int ins[2] = { vals[L_CONV_A], per_channel(g, "offset", 8, 80000.0f) };
    vals[L_BIG] = t_simple(g, KILN_OP_ADD, "big", ins, 2, 0);
    int ins2[2] = { vals[L_BIG], per_channel(g, "offset2", 8, 80000.0f) };
    vals[L_BACK] = t_simple(g, KILN_OP_SUB, "back", ins2, 2, 0);
    vals[L_TAIL] = conv1x1(g, "tail", vals[L_BACK], 4, 0.1f, kiln_act_make(KILN_ACT_NONE, 0, INFINITY, 0));
    vals[L_PREACT] = conv1x1(g, "preact", vals[L_BACK], 4, -30000.0f, kiln_act_relu());
    for (int i = 0; i < L_COUNT; i++)
        if (all_outputs || i == L_TAIL || i == L_PREACT) kiln_graph_mark_output(g, vals[i]);
    return g;
}

static float max_abs(const float *x, int64_t n)
{
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* Expected range of each layer from the oracle: max |x| over what the layer reads and writes, and for preact its
 * value before the ReLU (the same graph with preact's activation removed). */
static void expected_ranges(const float *calib, int samples, float *want)
{
    float maxv[L_COUNT] = { 0 }, pre = 0;
    for (int pass = 0; pass < 2; pass++) {
        int vals[L_COUNT];
        t_rng = 777u;
        kiln_graph *g = make_graph(1, vals);
        if (pass == 1) g->nodes[g->values[vals[L_PREACT]].producer].attrs.act.kind = KILN_ACT_NONE;
        float *outs[L_COUNT];
        for (int i = 0; i < L_COUNT; i++) outs[i] = malloc(sizeof(float) * (size_t)t_numel_batch(g, g->outputs[i], samples));
        const float *ins[1] = { calib };
        t_oracle(g, samples, ins, outs);
        for (int i = 0; i < L_COUNT; i++) {
            const float m = max_abs(outs[i], t_numel_batch(g, g->outputs[i], samples));
            for (int k = 0; k < L_COUNT; k++)
                if (g->outputs[i] == vals[k] && pass == 0) maxv[k] = m;
                else if (g->outputs[i] == vals[k] && k == L_PREACT) pre = m;
            free(outs[i]);
        }
        kiln_graph_free(g);
    }
    const float xmax = max_abs(calib, 4 * 4 * 3 * samples);
    want[L_CONV_A] = fmaxf(xmax, maxv[L_CONV_A]);
    want[L_BIG] = fmaxf(maxv[L_CONV_A], maxv[L_BIG]);
    want[L_BACK] = fmaxf(maxv[L_BIG], maxv[L_BACK]);
    want[L_TAIL] = fmaxf(maxv[L_BACK], maxv[L_TAIL]);
    want[L_PREACT] = fmaxf(fmaxf(maxv[L_BACK], maxv[L_PREACT]), pre);
}

/* Build a CPU engine of the graph (no passes: one layer per node, in this order), then calibrate it. */
static kiln_engine *build(kiln_network **net, int tactics, const char *passes)
{
    int vals[L_COUNT];
    t_rng = 777u;
    *net = t_network(make_graph(0, vals));
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.disabled_passes = passes;
    o.tactics = tactics;
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(*net, &o, &e));
    return e;
}

static int layer_writing(const kiln_engine *e, const char *value_name)
{
    for (int i = 0; i < e->g->n_nodes; i++)
        if (!strcmp(e->g->values[e->g->nodes[i].output].name, value_name)) return i;
    return -1;
}

static const char *names[L_COUNT] = { "conv_a", "big", "back", "tail", "preact" };
static const int want_fp32[L_COUNT] = { 0, 1, 1, 0, 1 };

static void check_ranges(int tactics, const float *calib, int samples, const float *want)
{
    kiln_network *net = NULL;
    kiln_engine *e = build(&net, tactics, "all");
    if (!e) return;
    CHECK(e->g->n_nodes == L_COUNT, "%d layers, expected %d", e->g->n_nodes, L_COUNT);
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.tactics = tactics;
    o.calib_data = calib;
    o.calib_numel = 4 * 4 * 3 * samples;
    float range[L_COUNT];
    CHECK_OK(kiln_calibrate_ranges(e, &o, range));
    for (int k = 0; k < L_COUNT; k++) {
        const int i = layer_writing(e, names[k]);
        CHECK(i >= 0, "no layer writes '%s'", names[k]);
        if (i < 0) continue;
        /* reference kernels: the oracle's very computation; heuristic kernels: rounding differences only */
        const float tol = tactics == KILN_TACTICS_REFERENCE ? 0.0f : 1e-4f * fmaxf(1.0f, want[k]);
        printf("  %-7s range %12.4f  oracle %12.4f  (%s kernels)\n", names[k], (double)range[i], (double)want[k],
               tactics == KILN_TACTICS_REFERENCE ? "reference" : "heuristic");
        CHECK(fabsf(range[i] - want[k]) <= tol, "%s: range %g, oracle %g", names[k], range[i], want[k]);
    }
    kiln_engine_free(e);
    t_network_free(net);
}

/* Precision marking, engine file v3 round trip, inspect text. */
static void check_marking(void)
{
    kiln_network *net = NULL;
    kiln_engine *e = build(&net, KILN_TACTICS_HEURISTIC, "all");
    if (!e) return;
    kiln_build_options o;
    kiln_build_options_init(&o); /* no calib_data: 4 random samples in [-1, 1] */
    float range[L_COUNT];
    CHECK_OK(kiln_calibrate_ranges(e, &o, range));
    /* Make it an FP16 CUDA engine as build_cuda.c would (without a GPU: no tactics). */
    e->precision = KILN_PRECISION_FP16;
    e->target = 0x1000u + 90u;
    for (int i = 0; i < e->g->n_nodes; i++) e->layers[i].backend = 1, e->layers[i].tactic = 1;
    CHECK_OK(kiln_assign_precision(e, &o, range));
    for (int k = 0; k < L_COUNT; k++) {
        const int i = layer_writing(e, names[k]);
        if (i < 0) continue;
        const int p32 = e->layers[i].precision == KILN_PRECISION_FP32;
        CHECK(p32 == want_fp32[k], "%s: %s (range %g), expected %s", names[k], p32 ? "FP32" : "FP16", e->layers[i].range,
              want_fp32[k] ? "FP32" : "FP16");
    }
    /* forcing: --fp32-layers tail (by its source name), and an unknown name is refused */
    o.fp32_layers = "tail";
    CHECK_OK(kiln_assign_precision(e, &o, range));
    CHECK(e->layers[layer_writing(e, "tail")].precision == KILN_PRECISION_FP32, "--fp32-layers tail ignored");
    CHECK(e->layers[layer_writing(e, "conv_a")].precision == KILN_PRECISION_FP16, "conv_a forced too");
    kiln_build_options bad = o;
    bad.fp32_layers = "tail,nosuchlayer";
    kiln_status st = kiln_assign_precision(e, &bad, range);
    CHECK(st == KILN_ERR_INVALID_ARGUMENT && strstr(kiln_last_error(), "nosuchlayer"), "unknown layer: %d '%s'", st,
          kiln_last_error());
    CHECK_OK(kiln_assign_precision(e, &o, range));

    /* the engine file keeps every layer's precision and range */
    const char *path = "/tmp/kiln_test_fp16_calib.engine";
    CHECK_OK(kiln_engine_save(e, path));
    kiln_engine *l = NULL;
    CHECK_OK(kiln_engine_load(path, &l));
    if (l) {
        CHECK(l->precision == KILN_PRECISION_FP16, "loaded precision %d", l->precision);
        for (int i = 0; i < e->g->n_nodes; i++) {
            CHECK(l->layers[i].precision == e->layers[i].precision, "layer %d precision %d after loading, %d before", i,
                  l->layers[i].precision, e->layers[i].precision);
            CHECK(l->layers[i].range == e->layers[i].range, "layer %d range %g after loading, %g before", i,
                  l->layers[i].range, e->layers[i].range);
        }
        kiln_layer_info li;
        CHECK_OK(kiln_engine_layer_info(l, layer_writing(l, "big"), &li));
        CHECK(li.precision == KILN_PRECISION_FP32 && li.range > 70000.0f, "layer_info big: precision %d range %g",
              li.precision, li.range);
        /* inspect: the precision column and the summary line */
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        CHECK_OK(kiln_engine_describe(l, mem, 0));
        fclose(mem);
        const char *want = "FP16 engine: 3 layers kept in FP32 (range over 16384 on calibration data): big, back, "
                           "preact; 1 by --fp32-layers: tail";
        CHECK(text && strstr(text, want), "inspect lacks '%s':\n%s", want, text ? text : "");
        /* layer rows: "  IDX  OP  SHAPE  ACTIVATION  PRECISION  TACTIC  NAME" between "layers:" and "summary:" */
        int fp16_rows = 0, fp32_rows = 0;
        const char *p = text ? strstr(text, "layers:") : NULL, *end = text ? strstr(text, "summary:") : NULL;
        for (; p && end && p < end; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : end) {
            int idx;
            char op[64], shape[64], act[64], prec[16];
            if (sscanf(p, "%d %63s %63s %63s %15s", &idx, op, shape, act, prec) != 5) continue;
            fp16_rows += !strcmp(prec, "FP16");
            fp32_rows += !strcmp(prec, "FP32");
        }
        CHECK(fp16_rows == 1 && fp32_rows == 4, "inspect table: %d FP16 and %d FP32 layer rows (expected 1 and 4)",
              fp16_rows, fp32_rows);
        if (text && t_failures) fputs(text, stdout);
        free(text);
        text = NULL;
        mem = open_memstream(&text, &len);
        CHECK_OK(kiln_engine_describe(l, mem, 1));
        fclose(mem);
        CHECK(text && strstr(text, "\"Fp32Layers\": 4") && strstr(text, "\"Range\": "), "inspect --json lacks the FP32 layers");
        free(text);
        kiln_engine_free(l);
    }
    /* a CPU engine's layers must all be FP32: a file saying otherwise is refused */
    kiln_engine_free(e);
    t_network_free(net);
    e = build(&net, KILN_TACTICS_HEURISTIC, "all");
    if (e) {
        e->layers[1].precision = KILN_PRECISION_FP16;
        CHECK_OK(kiln_engine_save(e, path));
        st = kiln_engine_load(path, &l);
        CHECK(st == KILN_ERR_FORMAT && strstr(kiln_last_error(), "precision 1 in an FP32 engine"),
              "FP16 layer in an FP32 engine: %d '%s'", st, kiln_last_error());
        if (st == KILN_OK) kiln_engine_free(l);
    }
    kiln_engine_free(e);
    t_network_free(net);
    remove(path);
}

/* With the optimizer on, whatever layer writes 'big' (possibly conv_a with the Add folded in) is FP32. */
static void check_optimized(void)
{
    kiln_network *net = NULL;
    kiln_engine *e = build(&net, KILN_TACTICS_HEURISTIC, NULL);
    if (!e) return;
    kiln_build_options o;
    kiln_build_options_init(&o);
    float *range = malloc(sizeof(float) * (size_t)e->g->n_nodes);
    CHECK_OK(kiln_calibrate_ranges(e, &o, range));
    e->precision = KILN_PRECISION_FP16;
    CHECK_OK(kiln_assign_precision(e, &o, range));
    for (int i = 0; i < e->g->n_nodes; i++)
        printf("  optimized layer %-28s %s range %g\n", e->g->nodes[i].name,
               e->layers[i].precision == KILN_PRECISION_FP32 ? "FP32" : "FP16", (double)range[i]);
    const int b = layer_writing(e, "big"), k = layer_writing(e, "back");
    CHECK(b < 0 || e->layers[b].precision == KILN_PRECISION_FP32, "optimized: the layer writing big is FP16");
    CHECK(k >= 0 && e->layers[k].precision == KILN_PRECISION_FP32, "optimized: the layer writing back is not FP32");
    free(range);
    kiln_engine_free(e);
    t_network_free(net);
}

int main(void)
{
    const int samples = 3;
    float calib[4 * 4 * 3 * 3], want[L_COUNT];
    t_rng = 4242u;
    t_fill(calib, 4 * 4 * 3 * samples, -1.0f, 1.0f);
    expected_ranges(calib, samples, want);
    CHECK(want[L_BIG] > 70000.0f && want[L_PREACT] > 20000.0f && want[L_CONV_A] < 100.0f && want[L_TAIL] < 100.0f,
          "test graph not as designed: ranges %g %g %g %g %g", want[0], want[1], want[2], want[3], want[4]);
    check_ranges(KILN_TACTICS_REFERENCE, calib, samples, want);
    check_ranges(KILN_TACTICS_HEURISTIC, calib, samples, want);
    check_marking();
    check_optimized();
    if (t_failures) fprintf(stderr, "test_fp16_calib: %d check(s) failed\n", t_failures);
    else printf("test_fp16_calib: ok\n");
    return t_failures ? 1 : 0;
}
