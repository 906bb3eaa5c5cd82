/* Mixed precision on the GPU (FP16 engines whose overflowing layers stay FP32), the GPU timing cache and per-layer GPU
 * times, through the public API, against kiln's CPU reference kernels (the oracle of tests/unit/test_engine_util.h).
 *
 *  1. overflow: x -> conv_a -> big = conv_a + 80000 -> back = big - 80000 -> tail (conv 1x1), preact (conv 1x1 + ReLU,
 *     bias -30000). An FP16 engine built with the default calibration keeps big, back and preact in FP32 and matches the
 *     reference within the FP16 tolerance (2e-2 of max |reference|); the same engine with the protection off
 *     (KILN_FP16_PROTECT=0: every layer FP16) does not (inf/NaN or far off) - the test of the test.
 *  2. forced precisions (--fp32-layers) on a branchy graph (concat, residual, BN, GAP, dense, two outputs): every layer
 *     FP32 inside an FP16 engine matches at the FP32 tolerance 1e-4; every other layer FP32 (casts at each boundary)
 *     matches at the FP16 tolerance; saved and loaded back it gives the same bits.
 *  3. timing cache: a build with --timing-cache times its convolutions and writes them; a rebuild reads them back and
 *     times nothing (the verbose line "GPU tactics: 0 convolution layers timed, N from the timing cache"); a cache
 *     edited to name tactic 101 (im2col + GEMM) for every convolution gives an engine that uses 101 (the cache is what
 *     decides) and still matches the reference.
 *  4. per-layer GPU times: with a layer callback the run goes layer by layer and reports every layer once with a GPU
 *     time >= 0 (sum > 0), outputs still right.
 * Without a GPU or libkiln_cuda.so: one SKIP line, exit 77. Writes /tmp/kiln_mixed.engine (or $KILN_MIXED_ENGINE) for
 * the CLI checks of tests/cuda/run_fp16_gpu.sh. */
#include <unistd.h>

#include "../unit/test_engine_util.h"
#include "runtime/backend_cuda.h"

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
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s/kernel", name);
    snprintf(bn, sizeof bn, "%s/bias", name);
    int ins[3] = { x, t_const(g, wn, 4, wd, -0.5f, 0.5f), per_channel(g, bn, cout, bias) };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = 1;
    a.act = act;
    return kiln_graph_add_node(g, KILN_OP_CONV2D, name, ins, 3, &a);
}

static kiln_graph *overflow_graph(void)
{
    kiln_graph *g = kiln_graph_new();
    int64_t d[4] = { 1, 12, 12, 16 };
    int x = kiln_graph_add_input(g, "x", 4, d);
    int a = t_conv(g, "conv_a", x, 3, 32);
    int i1[2] = { a, per_channel(g, "offset", 32, 80000.0f) };
    int big = t_simple(g, KILN_OP_ADD, "big", i1, 2, 0);
    int i2[2] = { big, per_channel(g, "offset2", 32, 80000.0f) };
    int back = t_simple(g, KILN_OP_SUB, "back", i2, 2, 0);
    kiln_graph_mark_output(g, conv1x1(g, "tail", back, 24, 0.1f, kiln_act_make(KILN_ACT_NONE, 0, INFINITY, 0)));
    kiln_graph_mark_output(g, conv1x1(g, "preact", back, 8, -30000.0f, kiln_act_relu()));
    return g;
}

/* A residual chain with several convolution shapes (timing cache): x[N,16,16,16] -> 3x3 relu -> 1x1 (+x) relu ->
 * 3x3 s2 -> 5x5 -> GAP -> dense. */
static kiln_graph *conv_graph(void)
{
    kiln_graph *g = kiln_graph_new();
    int64_t d[4] = { 1, 16, 16, 16 };
    int x = kiln_graph_add_input(g, "x", 4, d);
    int a = t_act(g, "relu_a", t_conv(g, "conv_a", x, 3, 16), kiln_act_relu());
    int b = t_conv(g, "conv_b", a, 1, 16);
    int s_in[2] = { b, x };
    int s = t_act(g, "relu_s", t_simple(g, KILN_OP_ADD, "add", s_in, 2, 0), kiln_act_relu());
    int64_t wd[4] = { 3, 3, 16, 32 }, bd[1] = { 32 };
    int ins[3] = { s, t_const(g, "conv_c/kernel", 4, wd, -0.1f, 0.1f), t_const(g, "conv_c/bias", 1, bd, -0.1f, 0.1f) };
    kiln_attrs ca;
    kiln_attrs_init(&ca);
    ca.kernel[0] = ca.kernel[1] = 3;
    ca.stride[0] = ca.stride[1] = 2;
    ca.pads[0] = ca.pads[1] = ca.pads[2] = ca.pads[3] = 1;
    ca.act = kiln_act_make(KILN_ACT_SWISH, 0, 0, 0);
    int c = kiln_graph_add_node(g, KILN_OP_CONV2D, "conv_c", ins, 3, &ca);
    int e5 = t_conv(g, "conv_d", c, 5, 24);
    kiln_attrs ga;
    kiln_attrs_init(&ga);
    int p = kiln_graph_add_node(g, KILN_OP_GLOBAL_AVGPOOL, "gap", &e5, 1, &ga);
    kiln_graph_mark_output(g, t_dense(g, "dense", p, 10));
    return g;
}

typedef struct {
    kiln_network *net;
    const kiln_graph *g; /* net's graph (the oracle runs it) */
    int batch;
    float *x, *ref[2], *got[2];
    int64_t nx, ny[2];
    float scale; /* max |reference| over the outputs, at least 1 */
} fixture;

static void fixture_init(fixture *f, kiln_graph *g, int batch, float lo, float hi)
{
    memset(f, 0, sizeof *f);
    f->net = t_network(g);
    f->g = g;
    f->batch = batch;
    f->nx = t_numel_batch(g, g->inputs[0], batch);
    f->x = malloc(sizeof(float) * (size_t)f->nx);
    t_fill(f->x, f->nx, lo, hi);
    f->scale = 1.0f;
    for (int i = 0; i < g->n_outputs && i < 2; i++) {
        f->ny[i] = t_numel_batch(g, g->outputs[i], batch);
        f->ref[i] = malloc(sizeof(float) * (size_t)f->ny[i]);
        f->got[i] = malloc(sizeof(float) * (size_t)f->ny[i]);
    }
    const float *ins[1] = { f->x };
    t_oracle(g, batch, ins, f->ref);
    for (int i = 0; i < g->n_outputs && i < 2; i++)
        for (int64_t k = 0; k < f->ny[i]; k++) f->scale = fmaxf(f->scale, fabsf(f->ref[i][k]));
}

static void fixture_free(fixture *f)
{
    t_network_free(f->net);
    free(f->x);
    for (int i = 0; i < 2; i++) free(f->ref[i]), free(f->got[i]);
}

static kiln_engine *build(const fixture *f, int fp16, const char *fp32_layers, const char *cache, int verbose)
{
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.device = KILN_DEVICE_CUDA;
    o.precision = fp16 ? KILN_PRECISION_FP16 : KILN_PRECISION_FP32;
    o.batch_max = f->batch;
    o.fp32_layers = fp32_layers;
    o.timing_cache = cache;
    o.verbose = verbose;
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(f->net, &o, &e));
    return e;
}

/* Run e on the fixture's input; returns max |got - ref| over the outputs (NaN/inf: +inf), or -1 on failure. */
static float run_diff(const fixture *f, const kiln_engine *e)
{
    kiln_context *ctx = NULL;
    if (!e || kiln_context_create(e, &ctx) != KILN_OK) {
        CHECK(0, "context: %s", kiln_last_error());
        return -1;
    }
    const float *ins[1] = { f->x };
    float d = -1;
    if (t_run(ctx, 1, ins, f->g->n_outputs, (float **)f->got, f->batch) == KILN_OK) {
        d = 0;
        for (int i = 0; i < f->g->n_outputs; i++) {
            float di = t_max_abs_diff(f->ref[i], f->got[i], f->ny[i]);
            if (!(di <= d)) d = isfinite(di) ? di : INFINITY;
        }
    } else {
        CHECK(0, "run: %s", kiln_last_error());
    }
    kiln_context_free(ctx);
    return d;
}

static int layer_precision(const kiln_engine *e, const char *output_name)
{
    for (int i = 0; i < kiln_engine_num_layers(e); i++) {
        kiln_layer_info li;
        if (kiln_engine_layer_info(e, i, &li) == KILN_OK && !strcmp(li.output, output_name)) return li.precision;
    }
    return -1;
}

static void test_overflow(void)
{
    printf("== overflow protection\n");
    fixture f;
    fixture_init(&f, overflow_graph(), 3, -1.0f, 1.0f);
    const float tol = 2e-2f * f.scale;
    kiln_engine *e = build(&f, 1, NULL, NULL, 1);
    if (e) {
        const char *fp32[] = { "big", "back", "preact" }, *fp16[] = { "conv_a", "tail" };
        for (int k = 0; k < 3; k++)
            CHECK(layer_precision(e, fp32[k]) == KILN_PRECISION_FP32, "layer %s is not FP32", fp32[k]);
        for (int k = 0; k < 2; k++)
            CHECK(layer_precision(e, fp16[k]) == KILN_PRECISION_FP16, "layer %s is not FP16", fp16[k]);
        float d = run_diff(&f, e);
        printf("  protected FP16 engine: max|diff| %.4g (tolerance %.4g)%s\n", d, tol, d >= 0 && d <= tol ? "" : "  FAIL");
        CHECK(d >= 0 && d <= tol, "protected FP16 engine: max |diff| %g > %g", d, tol);
        const char *path = getenv("KILN_MIXED_ENGINE") ? getenv("KILN_MIXED_ENGINE") : "/tmp/kiln_mixed.engine";
        CHECK_OK(kiln_engine_save(e, path));
        kiln_engine *l = NULL;
        CHECK_OK(kiln_engine_load(path, &l));
        if (l) {
            float dl = run_diff(&f, l);
            CHECK(dl == d, "loaded mixed engine: max|diff| %g, before saving %g", dl, d);
            CHECK(layer_precision(l, "big") == KILN_PRECISION_FP32, "loaded engine lost the FP32 layer");
        }
        kiln_engine_free(l);
    }
    kiln_engine_free(e);
    setenv("KILN_FP16_PROTECT", "0", 1);
    e = build(&f, 1, NULL, NULL, 0);
    unsetenv("KILN_FP16_PROTECT");
    if (e) {
        CHECK(layer_precision(e, "big") == KILN_PRECISION_FP16, "KILN_FP16_PROTECT=0 still keeps big in FP32");
        float d = run_diff(&f, e);
        printf("  unprotected FP16 engine (every layer FP16): max|diff| %g (expected inf/NaN or > %.4g)\n", d, tol);
        CHECK(!(d >= 0 && d <= tol), "without the protection the FP16 engine still matched (max|diff| %g)", d);
    }
    kiln_engine_free(e);
    fixture_free(&f);
}

/* Comma-separated names of the nodes of g: all of them (step 1) or every other one (step 2). */
static char *node_names(const kiln_graph *g, int step)
{
    size_t cap = 16, len = 0;
    for (int i = 0; i < g->n_nodes; i++) cap += strlen(g->nodes[i].name) + 1;
    char *s = calloc(cap, 1);
    for (int i = 0; i < g->n_nodes; i += step) len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? "," : "", g->nodes[i].name);
    return s;
}

static void test_forced(void)
{
    printf("== forced FP32 layers (--fp32-layers)\n");
    fixture f;
    fixture_init(&f, t_graph_branchy(), 4, -1.0f, 1.0f);
    for (int step = 1; step <= 2; step++) {
        char *names = node_names(f.g, step);
        kiln_engine *e = build(&f, 1, names, NULL, 0);
        const float tol = (step == 1 ? 1e-4f : 2e-2f) * f.scale;
        int n32 = 0;
        for (int i = 0; e && i < kiln_engine_num_layers(e); i++) {
            kiln_layer_info li;
            kiln_engine_layer_info(e, i, &li);
            n32 += li.precision == KILN_PRECISION_FP32;
        }
        float d = e ? run_diff(&f, e) : -1;
        printf("  FP16 engine, %s layers FP32 (%d of %d): max|diff| %.4g (tolerance %.4g)%s\n", step == 1 ? "all" : "every other",
               n32, e ? kiln_engine_num_layers(e) : 0, d, tol, d >= 0 && d <= tol ? "" : "  FAIL");
        CHECK(d >= 0 && d <= tol, "forced FP32 (step %d): max|diff| %g > %g", step, d, tol);
        if (e) CHECK(step == 1 ? n32 == kiln_engine_num_layers(e) : n32 > 0 && n32 < kiln_engine_num_layers(e),
                     "step %d: %d FP32 layers", step, n32);
        kiln_engine_free(e);
        free(names);
    }
    fixture_free(&f);
}

/* Build with fd 2 captured; returns the verbose line about GPU tactics (static buffer) or "". */
static const char *build_captured(const fixture *f, const char *cache, kiln_engine **out)
{
    static char line[600];
    line[0] = '\0';
    char tmpl[] = "/tmp/kiln_mixed_stderr_XXXXXX";
    int fd = mkstemp(tmpl);
    fflush(stderr);
    int saved = dup(2);
    if (fd >= 0) dup2(fd, 2);
    *out = build(f, 1, NULL, cache, 1);
    fflush(stderr);
    if (saved >= 0) dup2(saved, 2), close(saved);
    FILE *r = fd >= 0 ? fopen(tmpl, "r") : NULL;
    char buf[512];
    while (r && fgets(buf, sizeof buf, r))
        if (strstr(buf, "GPU tactics:")) snprintf(line, sizeof line, "%s", buf);
    if (r) fclose(r);
    if (fd >= 0) close(fd), remove(tmpl);
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n') line[n - 1] = '\0';
    return line;
}

static void test_timing_cache(void)
{
    printf("== GPU timing cache\n");
    fixture f;
    fixture_init(&f, conv_graph(), 8, -1.0f, 1.0f);
    const float tol = 2e-2f * f.scale;
    const char *cache = "/tmp/kiln_mixed_timing.cache";
    remove(cache);
    kiln_engine *e1 = NULL, *e2 = NULL, *e3 = NULL;
    int timed = -1, hits = -1;
    const char *l1 = build_captured(&f, cache, &e1);
    printf("  first build:  %s\n", l1);
    CHECK(sscanf(l1, "kiln: GPU tactics: %d convolution layers timed, %d", &timed, &hits) == 2 && timed >= 3 && hits == 0,
          "first build: '%s'", l1);
    const int convs = timed;
    const char *l2 = build_captured(&f, cache, &e2);
    printf("  rebuild:      %s\n", l2);
    CHECK(sscanf(l2, "kiln: GPU tactics: %d convolution layers timed, %d", &timed, &hits) == 2 && timed == 0 &&
              hits == convs,
          "rebuild: '%s' (expected 0 timed, %d from the cache)", l2, convs);
    for (int i = 0; e1 && e2 && i < kiln_engine_num_layers(e1); i++) {
        kiln_layer_info a, b;
        kiln_engine_layer_info(e1, i, &a);
        kiln_engine_layer_info(e2, i, &b);
        CHECK(a.tactic == b.tactic, "layer %s: tactic %d, rebuilt from the cache %d", a.name, a.tactic, b.tactic);
    }
    /* Rewrite every GPU entry to tactic 101 (im2col + GEMM; valid for every non-1x1 convolution, and 1x1 ones fall back
     * to choosing anew): the rebuilt engine follows the file. */
    FILE *in = fopen(cache, "r");
    char text[65536] = "", row[256];
    size_t len = 0;
    while (in && fgets(row, sizeof row, in)) {
        unsigned long long k;
        char name[64];
        double us;
        if (sscanf(row, "%llx %63s %lf", &k, name, &us) == 3 && !strncmp(name, "cuda_t", 6))
            len += (size_t)snprintf(text + len, sizeof text - len, "%016llx cuda_t101 %.1f\n", k, us);
        else
            len += (size_t)snprintf(text + len, sizeof text - len, "%s", row);
    }
    if (in) fclose(in);
    FILE *out = fopen(cache, "w");
    if (out) fputs(text, out), fclose(out);
    build_captured(&f, cache, &e3);
    int n101 = 0;
    for (int i = 0; e3 && i < kiln_engine_num_layers(e3); i++) {
        kiln_layer_info li;
        kiln_engine_layer_info(e3, i, &li);
        if (!strcmp(li.type, "Conv2D")) {
            printf("  edited cache: layer %-24s tactic %d\n", li.name, li.tactic);
            n101 += li.tactic == 101;
        }
    }
    CHECK(n101 >= 2, "only %d convolutions took tactic 101 from the edited cache", n101);
    float d2 = e2 ? run_diff(&f, e2) : -1, d3 = e3 ? run_diff(&f, e3) : -1;
    printf("  cached engine max|diff| %.4g, edited-cache engine %.4g (tolerance %.4g)\n", d2, d3, tol);
    CHECK(d2 >= 0 && d2 <= tol && d3 >= 0 && d3 <= tol, "cached engines: max|diff| %g / %g > %g", d2, d3, tol);
    kiln_engine_free(e1);
    kiln_engine_free(e2);
    kiln_engine_free(e3);
    remove(cache);
    fixture_free(&f);
}

typedef struct {
    int n, calls, bad;
    int seen[64];
    double sum;
} layer_sink;

static void on_layer(void *user, const kiln_layer_event *ev)
{
    layer_sink *s = user;
    s->calls++;
    if (ev->index < 0 || ev->index >= s->n || ev->index >= 64 || !(ev->ms >= 0) || ev->output) s->bad++;
    else s->seen[ev->index]++, s->sum += ev->ms;
}

static void test_layer_times(void)
{
    printf("== per-layer GPU times (layer callback)\n");
    fixture f;
    fixture_init(&f, t_graph_branchy(), 2, -1.0f, 1.0f);
    kiln_engine *e = build(&f, 1, "conv_c", NULL, 0);
    kiln_context *ctx = NULL;
    if (e) CHECK_OK(kiln_context_create(e, &ctx));
    if (ctx) {
        layer_sink s;
        memset(&s, 0, sizeof s);
        s.n = kiln_engine_num_layers(e);
        kiln_context_set_layer_callback(ctx, on_layer, &s);
        const float *ins[1] = { f.x };
        kiln_run_timing tm;
        for (int i = 0; i < 2; i++) kiln_context_bind_output(ctx, i, f.got[i]);
        kiln_context_bind_input(ctx, 0, ins[0]);
        CHECK_OK(kiln_context_run_timed(ctx, f.batch, &tm));
        int once = 1;
        for (int i = 0; i < s.n && i < 64; i++) once &= s.seen[i] == 1;
        float d = 0;
        for (int i = 0; i < 2; i++) d = fmaxf(d, t_max_abs_diff(f.ref[i], f.got[i], f.ny[i]));
        printf("  %d layers, %d events, layers sum to %.4f ms, GPU compute %.4f ms, max|diff| %.4g\n", s.n, s.calls, s.sum,
               tm.compute_ms, d);
        CHECK(s.calls == s.n && once && !s.bad && s.sum > 0 && tm.on_gpu, "layer events: %d calls for %d layers, %d bad",
              s.calls, s.n, s.bad);
        CHECK(d <= 2e-2f * f.scale, "profiled run: max|diff| %g", d);
    }
    kiln_context_free(ctx);
    kiln_engine_free(e);
    fixture_free(&f);
}

int main(void)
{
    const kiln_cuda_backend_api *api = NULL;
    int sm = 0;
    char name[256] = "", err[512] = "";
    if (kiln_cuda_load(&api) != KILN_OK) {
        printf("SKIP test_cuda_mixed: %s\n", kiln_last_error());
        return 77;
    }
    if (api->probe(&sm, name, sizeof name, err, sizeof err)) {
        printf("SKIP test_cuda_mixed: %s\n", err);
        return 77;
    }
    printf("GPU: %s (sm_%d)\n", name, sm);
    test_overflow();
    test_forced();
    test_timing_cache();
    test_layer_times();
    printf("test_cuda_mixed: %d failures\n", t_failures);
    return t_failures ? 1 : 0;
}
