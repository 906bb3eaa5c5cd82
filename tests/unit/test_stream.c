/* Row streaming (src/cpu/stream.h): an expansion 1x1 conv (or a stem conv) computed into per-thread rings inside the
 * depthwise conv after it (and the projection 1x1 conv after that, row by row, with and without a residual), and a
 * squeeze-excite folded into the 1x1 conv after it, give bit-identical outputs to running the two layers one after the
 * other and agree with the reference oracle; for 3x3 / 5x5 depthwise convs at stride 1 / 2 ('same' padding,
 * asymmetric when strided), output widths 7, 14, 21, vector and scalar activations, 1 to 3 threads and batches of
 * several samples; the choice survives an engine save -> load; an engine whose stream field names a layer that cannot
 * stream is refused as corrupt. */
#include <unistd.h>

#include "cpu/conv_amx.h"
#include "cpu/cpu_features.h"
#include "cpu/tactics.h"
#include "format/engine_file.h"
#include "test_engine_util.h"

typedef struct {
    int H, W, Cin, C, K, S;
    kiln_act act;
    int residual; /* 1: the projection back to Cin channels + x (stride 1): MobileNetV2's residual blocks; -1: no
                   * projection (the depthwise conv is the output: a pair, EfficientNet's blocks with a
                   * squeeze-excite between) */
    int stem;     /* > 0: the first conv is a stem instead of the 1x1 expansion: stem x stem, stride 2, 'same'
                   * (asymmetric) padding, on Cin <= 4 channels (the direct kernel): MobileNetV2 / EfficientNet's
                   * first layers */
} stream_case;

/* A stem conv: k x k stride 2 'same' (TensorFlow's: the odd padding cell at the bottom / right), Cin -> cout. */
static int stem_conv(kiln_graph *g, int x, int k, int cout)
{
    const int64_t H = g->values[x].dims[1], W = g->values[x].dims[2], cin = g->values[x].dims[3];
    const int64_t OH = (H + 1) / 2, OW = (W + 1) / 2, ph = (OH - 1) * 2 + k - H, pw = (OW - 1) * 2 + k - W;
    int64_t wd[4] = { k, k, cin, cout }, bd[1] = { cout };
    const float s = 1.0f / sqrtf((float)(k * k * cin));
    int ins[3] = { x, t_const(g, "stem/kernel", 4, wd, -s, s), t_const(g, "stem/bias", 1, bd, -0.2f, 0.2f) };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = k;
    a.stride[0] = a.stride[1] = 2;
    a.pads[0] = (int)(ph / 2), a.pads[2] = (int)(ph - ph / 2);
    a.pads[1] = (int)(pw / 2), a.pads[3] = (int)(pw - pw / 2);
    return kiln_graph_add_node(g, KILN_OP_CONV2D, "stem", ins, 3, &a);
}

/* x -> 1x1 conv (Cin -> C) + act -> depthwise KxK stride S + act -> 1x1 conv (C -> 8, or C -> Cin + x) */
static kiln_graph *make_graph(const stream_case *c)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, c->H, c->W, c->Cin };
    int x = kiln_graph_add_input(g, "x", 4, xd);
    int e = t_act(g, "expand_act", c->stem ? stem_conv(g, x, c->stem, c->C) : t_conv(g, "expand", x, 1, c->C), c->act);
    const int64_t H = g->values[e].dims[1], W = g->values[e].dims[2];
    const int64_t OH = (H + c->S - 1) / c->S, OW = (W + c->S - 1) / c->S;
    const int64_t ph = (OH - 1) * c->S + c->K - H, pw = (OW - 1) * c->S + c->K - W;
    int64_t wd[4] = { c->K, c->K, 1, c->C }, bd[1] = { c->C };
    int ins[3] = { e, t_const(g, "dw/kernel", 4, wd, -0.4f, 0.4f), t_const(g, "dw/bias", 1, bd, -0.2f, 0.2f) };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = c->K;
    a.stride[0] = a.stride[1] = c->S;
    a.groups = c->C;
    a.pads[0] = (int)(ph / 2), a.pads[2] = (int)(ph - ph / 2);
    a.pads[1] = (int)(pw / 2), a.pads[3] = (int)(pw - pw / 2);
    int d = t_act(g, "dw_act", kiln_graph_add_node(g, KILN_OP_CONV2D, "dw", ins, 3, &a), c->act);
    if (c->residual < 0) {
        kiln_graph_mark_output(g, d);
        return g;
    }
    int p = t_conv(g, "project", d, 1, c->residual ? c->Cin : 8);
    if (c->residual) {
        int ab[2] = { p, x };
        p = t_simple(g, KILN_OP_ADD, "add", ab, 2, 0);
    }
    kiln_graph_mark_output(g, p);
    return g;
}

static kiln_engine *build(kiln_network *net, int stream, int threads)
{
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_max = 3;
    opt.threads = threads;
    opt.tactics = KILN_TACTICS_HEURISTIC; /* the same kernels with and without streaming */
    opt.stream = stream;
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(net, &opt, &e));
    return e;
}

/* One network built with streaming off and on (batch 3, random inputs), both run: the two outputs must be equal
 * bit for bit and within oracle_tol of the reference oracle. */
typedef struct {
    kiln_engine *off, *on;
    float *x, *want, *plain, *streamed;
    int64_t ny;
} on_off;

static int on_off_run(kiln_network *net, int threads, float oracle_tol, const char *what, const char *verb, on_off *r)
{
    const kiln_graph *g = net->g;
    const int batch = 3;
    const int64_t nx = t_numel_batch(g, g->inputs[0], batch);
    r->ny = t_numel_batch(g, g->outputs[0], batch);
    r->x = malloc(sizeof(float) * (size_t)nx), r->want = calloc((size_t)r->ny, sizeof(float));
    r->plain = malloc(sizeof(float) * (size_t)r->ny), r->streamed = malloc(sizeof(float) * (size_t)r->ny);
    t_fill(r->x, nx, -1.0f, 1.0f);
    for (int64_t i = 0; i < r->ny; i++) r->plain[i] = r->streamed[i] = NAN;
    const float *xs = r->x;
    t_oracle(g, batch, &xs, &r->want);
    r->off = build(net, -1, threads), r->on = build(net, 1, threads);
    if (!r->off || !r->on) return 0;
    t_run_engine(r->off, r->x, r->plain, batch);
    t_run_engine(r->on, r->x, r->streamed, batch);
    int same = 1;
    for (int64_t i = 0; i < r->ny; i++) same &= r->plain[i] == r->streamed[i];
    CHECK(same, "%s: %s outputs differ from layer-by-layer ones (max |d| %g)", what, verb,
          t_max_abs_diff(r->plain, r->streamed, r->ny));
    const float d = t_max_abs_diff(r->want, r->streamed, r->ny);
    CHECK(d <= oracle_tol, "%s: max |%s - oracle| = %g", what, verb, d);
    return 1;
}

static void on_off_free(on_off *r)
{
    kiln_engine_free(r->off);
    kiln_engine_free(r->on);
    free(r->x);
    free(r->want);
    free(r->plain);
    free(r->streamed);
}

/* Events a layer timer / layer callback saw in one run. */
typedef struct {
    int n, index[16], has_output[16];
    double ms[16];
} events;

static void on_event(void *user, const kiln_layer_event *ev)
{
    events *r = user;
    if (r->n < 16) {
        r->index[r->n] = ev->index, r->ms[r->n] = ev->ms, r->has_output[r->n] = ev->output != NULL;
        r->n++;
    }
}

/* A layer timer (profiling) runs the streamed group as unprofiled runs do: bit-identical output, one event per layer,
 * the group's members (kiln_layer_info.fused_into_next) with 0 ms and no output, the last one with both; a layer
 * callback (per-layer compare) runs every layer on its own, each with its output. */
static void check_layer_timer(kiln_engine *on, const on_off *r, const char *what, int span)
{
    const int n = kiln_engine_num_layers(on), batch = 3;
    for (int mode = 0; mode < 2; mode++) {
        kiln_context *ctx = NULL;
        CHECK_OK(kiln_context_create(on, &ctx));
        if (!ctx) return;
        events ev = { 0 };
        if (mode) CHECK_OK(kiln_context_set_layer_timer(ctx, on_event, &ev));
        else CHECK_OK(kiln_context_set_layer_callback(ctx, on_event, &ev));
        float *y = malloc(sizeof(float) * (size_t)r->ny);
        const float *x = r->x;
        CHECK_OK(t_run(ctx, 1, &x, 1, &y, batch));
        int same = 1;
        for (int64_t i = 0; i < r->ny; i++) same &= y[i] == r->streamed[i];
        CHECK(same, "%s: output with a layer %s differs", what, mode ? "timer" : "callback");
        CHECK(ev.n == n, "%s: %d events for %d layers", what, ev.n, n);
        int members = 0;
        for (int k = 0; k < ev.n && k < n; k++) {
            kiln_layer_info li;
            CHECK_OK(kiln_engine_layer_info(on, k, &li));
            CHECK(ev.index[k] == k, "%s: event %d for layer %d", what, k, ev.index[k]);
            members += li.fused_into_next;
            if (mode && li.fused_into_next)
                CHECK(ev.ms[k] < 0.01 && !ev.has_output[k], "%s: timer: group member %d: %g ms, output %d", what, k,
                      ev.ms[k], ev.has_output[k]);
            else
                CHECK(ev.has_output[k] && ev.ms[k] > 0, "%s: %s: layer %d: %g ms, output %d", what,
                      mode ? "timer" : "callback", k, ev.ms[k], ev.has_output[k]);
        }
        CHECK(members == span, "%s: %d layers marked fused_into_next, want %d", what, members, span);
        free(y);
        kiln_context_free(ctx);
    }
}

static void check_case(const stream_case *c, int threads)
{
    t_rng = 4242u;
    kiln_network *net = t_network(make_graph(c));
    const kiln_graph *g = net->g;
    char what[160];
    snprintf(what, sizeof what, "%dx%dx%d -> %s%d, dw %dx%d/%d, act %d, %d thread(s)", c->H, c->W, c->Cin,
             c->stem ? "stem " : "", c->C, c->K, c->K, c->S, (int)c->act.kind, threads);
    on_off r;
    if (on_off_run(net, threads, 1e-5f, what, "streamed", &r)) {
        kiln_engine *on = r.on;
        int streams = 0, kind = 0;
        for (int i = 0; i < on->g->n_nodes; i++)
            if (on->layers[i].stream) streams++, kind = on->layers[i].stream;
        const int want = c->residual < 0 ? 1 : 3;
        if (kiln_cpu_isa() >= KILN_ISA_AVX512) { /* the expansion, with the depthwise (1) and the projection (3) */
            CHECK(streams == 1 && kind == want, "%s: %d streamed layers, stream %d (want 1 expansion, %d)", what,
                  streams, kind, want);
            check_layer_timer(on, &r, what, want == 3 ? 2 : 1);
        } else
            printf("SKIP streamed kernels (no AVX-512 here): %s runs its layers one by one\n", what);
        /* through the engine file */
        char path[] = "/tmp/kiln_test_streamXXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) close(fd);
        CHECK_OK(kiln_engine_save(on, path));
        kiln_engine *back = NULL;
        CHECK_OK(kiln_engine_load(path, &back));
        unlink(path);
        if (back) {
            int kept = 1;
            for (int i = 0; i < on->g->n_nodes; i++) kept &= back->layers[i].stream == on->layers[i].stream;
            CHECK(kept, "%s: stream fields changed through the engine file", what);
            for (int64_t i = 0; i < r.ny; i++) r.plain[i] = NAN;
            t_run_engine(back, r.x, r.plain, 2); /* batch 2 of the same inputs: the first two samples */
            const int64_t n2 = t_numel_batch(g, g->outputs[0], 2);
            int eq = 1;
            for (int64_t i = 0; i < n2; i++) eq &= r.plain[i] == r.streamed[i];
            CHECK(eq, "%s: the reloaded engine differs at batch 2", what);
            kiln_engine_free(back);
        }
    }
    on_off_free(&r);
    t_network_free(net);
}

/* x -> squeeze-excite (C -> Cr -> C, swish / sigmoid) -> 1x1 conv (C -> Cout, relu) */
static kiln_graph *make_se_graph(int H, int W, int C, int Cr, int Cout, int conv_weights)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, H, W, C }, b1d[1] = { Cr }, b2d[1] = { C };
    int64_t w1d[4] = { 1, 1, C, Cr }, w2d[4] = { 1, 1, Cr, C };
    const int wr = conv_weights ? 4 : 2;
    int x = kiln_graph_add_input(g, "x", 4, xd);
    int ins[5] = { x, t_const(g, "w1", wr, w1d + 4 - wr, -0.5f, 0.5f), t_const(g, "b1", 1, b1d, -0.2f, 0.2f),
                   t_const(g, "w2", wr, w2d + 4 - wr, -0.5f, 0.5f), t_const(g, "b2", 1, b2d, -0.2f, 0.2f) };
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.act = kiln_act_make(KILN_ACT_SWISH, 0, 0, 0);
    at.act2 = kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0);
    int se = kiln_graph_add_node(g, KILN_OP_SQUEEZE_EXCITE, "se", ins, 5, &at);
    int y = t_act(g, "project_act", t_conv(g, "project", se, 1, Cout), kiln_act_relu());
    kiln_graph_mark_output(g, y);
    return g;
}

/* The squeeze-excite folded into the 1x1 conv (stream 2): bitwise equal to the two layers, close to the oracle. */
static void check_se_fold(int H, int W, int C, int Cr, int Cout, int conv_weights, int threads)
{
    t_rng = 99u;
    kiln_network *net = t_network(make_se_graph(H, W, C, Cr, Cout, conv_weights));
    char what[160];
    snprintf(what, sizeof what, "squeeze-excite %dx%dx%d (Cr %d) -> 1x1 %d, %s weights, %d thread(s)", H, W, C, Cr,
             Cout, conv_weights ? "conv" : "dense", threads);
    on_off r;
    if (on_off_run(net, threads, 5e-5f, what, "folded", &r)) {
        int folds = 0;
        for (int i = 0; i < r.on->g->n_nodes; i++) folds += r.on->layers[i].stream == 2;
        CHECK(folds == 1, "%s: %d folded layers (want the squeeze-excite)", what, folds);
        if (!getenv("KILN_TACTICS_EXCLUDE") && kiln_cpu_has_amx()) { /* the AMX cases: the conv did run on AMX */
            const kiln_cpu_tactic *k = kiln_cpu_tactic_get(KILN_OP_CONV2D, r.on->layers[r.on->g->n_nodes - 1].tactic);
            CHECK(k && k->run && kiln_amx_is(k->run), "%s: the conv is not on AMX (%s)", what, k ? k->name : "?");
        }
    }
    on_off_free(&r);
    t_network_free(net);
}

/* A stream field on a layer that is not a streamable expansion (the depthwise conv) is refused at load. */
static void check_corrupt(void)
{
    stream_case c = { 14, 14, 16, 32, 3, 1, { KILN_ACT_RELU, 0.0f, 6.0f, 0.0f }, 0, 0 };
    kiln_network *net = t_network(make_graph(&c));
    kiln_engine *e = build(net, -1, 1);
    if (e) {
        e->layers[1].stream = 1; /* the depthwise conv */
        char path[] = "/tmp/kiln_test_streamXXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) close(fd);
        CHECK_OK(kiln_engine_save(e, path));
        kiln_engine *back = NULL;
        kiln_status st = kiln_engine_load(path, &back);
        CHECK(st != KILN_OK && !back && strstr(kiln_last_error(), "stream"),
              "a stream field on the depthwise layer was accepted (status %d: %s)", st, kiln_last_error());
        kiln_engine_free(back);
        unlink(path);
        kiln_engine_free(e);
    }
    t_network_free(net);
}

int main(void)
{
    /* Streams run their 1x1 convs with gemm tactics: a layer the heuristic would give to AMX (another summation
     * order) would make "layer by layer" differ from "streamed" by rounding; without AMX the two runs use the same
     * kernels and must agree bit for bit. */
    setenv("KILN_TACTICS_EXCLUDE", "conv_amx_bf16x6", 1);
    const kiln_act relu6 = { KILN_ACT_RELU, 0.0f, 6.0f, 0.0f }, relu = { KILN_ACT_RELU, 0.0f, INFINITY, 0.0f };
    const kiln_act swish = { KILN_ACT_SWISH, 0.0f, 0.0f, 0.0f }, leaky = { KILN_ACT_RELU, 0.1f, INFINITY, 0.0f };
    const stream_case cases[] = {
        { 14, 14, 16, 32, 3, 1, relu6, 0, 0 }, { 28, 28, 8, 48, 3, 2, relu, 0, 0 },
        { 14, 21, 16, 32, 5, 1, swish, 0, 0 },
        { 28, 28, 24, 64, 5, 2, swish, 0, 0 }, { 7, 7, 32, 96, 3, 1, leaky, 0, 0 },
        { 14, 14, 40, 16, 3, 1, relu6, 0, 0 },
        { 14, 14, 24, 144, 3, 1, relu6, 1, 0 }, { 21, 14, 16, 96, 5, 1, swish, 1, 0 },
        /* pairs: threads split the expansion's channel panels where recomputed rows would cost more (stream_csplit:
         * 7x7 5x5 at 2 and 3 threads; 14x14 3x3 with 3 panels at 3 threads; 80 channels: a partial last panel) */
        { 7, 7, 32, 192, 5, 1, swish, -1, 0 }, { 14, 14, 16, 96, 3, 1, relu6, -1, 0 },
        { 14, 14, 24, 80, 5, 2, swish, -1, 0 },
        { 28, 14, 16, 64, 3, 1, leaky, -1, 0 },
        /* stems (the direct kernel's rows into the ring): 3x3/2 RGB -> 32, dw 3x3/1, projection (MobileNetV2) or
         * not (EfficientNet, swish); a 7x7/2 one-channel stem into a 5x5/2 dw (odd input: the window leaves the
         * image at the bottom / right); 4 channels into 48 (a partial second panel) */
        { 28, 28, 3, 32, 3, 1, relu6, 0, 3 }, { 28, 42, 3, 32, 3, 1, swish, -1, 3 },
        { 27, 55, 1, 32, 5, 2, relu, -1, 7 }, { 28, 28, 4, 48, 3, 1, leaky, 0, 5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 3; threads++) check_case(&cases[i], threads);
    for (int threads = 1; threads <= 3; threads++) {
        check_se_fold(14, 14, 32, 8, 24, 0, threads);
        check_se_fold(7, 9, 40, 10, 40, 1, threads);  /* 63 pixels: partial tiles; 40 channels: a partial vector */
        check_se_fold(28, 28, 96, 4, 16, 0, threads); /* several tile groups; 16 outputs (the 16-wide tile) */
        check_se_fold(7, 7, 576, 32, 40, 0, threads);  /* 72 KiB dense weights: the dense layers in parallel */
    }
    /* A fold into an AMX conv (it multiplies by the gates as it splits its input): with AMX allowed, a 96 -> 64 1x1
     * conv at 14x14 gets it (heuristic), on and off run the same conv kernel, so again bit for bit. */
    unsetenv("KILN_TACTICS_EXCLUDE");
    for (int threads = 1; threads <= 3; threads++) {
        check_se_fold(14, 14, 96, 8, 64, 0, threads);
        check_se_fold(14, 14, 100, 12, 64, 1, threads); /* 100 input channels: the split's partial chunk */
    }
    check_corrupt();
    if (t_failures) {
        fprintf(stderr, "test_stream: %d check(s) failed\n", t_failures);
        return 1;
    }
    printf("test_stream: all checks passed\n");
    return 0;
}
