/* Engine-level CPU tactics: every build mode gives the oracle's numbers (reference kernels, no passes), with 1 and 2
 * threads; heuristic builds are byte-for-byte deterministic; a timing cache makes a rebuild time nothing; an engine
 * whose tactics need AVX-512 loads and runs under KILN_ISA=avx2 (falling back, and saying so in its description).
 * The last part re-runs this program with KILN_ISA=avx2 (only where the CPU has AVX-512). */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <unistd.h>

#include "test_engine_util.h"

#include "cpu/cpu_features.h"
#include "cpu/engine_tactics.h"
#include "cpu/tactics.h"

/* A small mobile-style net: 3x3 conv, depthwise 3x3 (stride 2), 1x1 conv, residual add, maxpool, GAP, dense. */
static kiln_graph *graph_mobile(void)
{
    kiln_graph *g = kiln_graph_new();
    int64_t in_dims[4] = { 1, 14, 13, 5 };
    int x = kiln_graph_add_input(g, "image", 4, in_dims);
    x = t_act(g, "relu_1", t_conv(g, "conv_1", x, 3, 24), kiln_act_make(KILN_ACT_RELU, 0.0f, 6.0f, 0.0f));
    int64_t wd[4] = { 3, 3, 1, 24 }, bd[1] = { 24 };
    int ins[3] = { x, t_const(g, "dw/kernel", 4, wd, -0.5f, 0.5f), t_const(g, "dw/bias", 1, bd, -0.2f, 0.2f) };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = 3;
    a.stride[0] = a.stride[1] = 2;
    a.pads[0] = a.pads[1] = a.pads[2] = a.pads[3] = 1;
    a.groups = 24;
    int d = kiln_graph_add_node(g, KILN_OP_CONV2D, "dw", ins, 3, &a);
    int p = t_conv(g, "project", d, 1, 24);
    int sum_in[2] = { p, d };
    int s = t_act(g, "relu_2", t_simple(g, KILN_OP_ADD, "add", sum_in, 2, 0), kiln_act_relu());
    kiln_attrs pa;
    kiln_attrs_init(&pa);
    pa.kernel[0] = pa.kernel[1] = 2;
    pa.stride[0] = pa.stride[1] = 1;
    s = kiln_graph_add_node(g, KILN_OP_MAXPOOL, "pool", &s, 1, &pa);
    kiln_attrs ga;
    kiln_attrs_init(&ga);
    int f = kiln_graph_add_node(g, KILN_OP_GLOBAL_AVGPOOL, "gap", &s, 1, &ga);
    int y = t_dense(g, "logits", f, 10);
    kiln_graph_mark_output(g, y);
    return g;
}

static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)*len + 1);
    if (fread(b, 1, (size_t)*len, f) != (size_t)*len) *len = -1;
    fclose(f);
    return b;
}

/* Run engine e on `batch` random samples and compare with the oracle. */
static void check_engine(kiln_engine *e, const kiln_graph *g, int batch, const char *what)
{
    const int64_t nin = t_numel_batch(g, g->inputs[0], batch), nout = t_numel_batch(g, g->outputs[0], batch);
    float *x = malloc(sizeof(float) * (size_t)nin), *ref = malloc(sizeof(float) * (size_t)nout);
    float *y = malloc(sizeof(float) * (size_t)nout);
    t_fill(x, nin, -1, 1);
    const float *ins[1] = { x };
    t_oracle(g, batch, ins, &ref);
    kiln_context *c = NULL;
    CHECK_OK(kiln_context_create(e, &c));
    if (c) {
        CHECK_OK(t_run(c, 1, ins, 1, &y, batch));
        float m = 0;
        for (int64_t i = 0; i < nout; i++) m = fmaxf(m, fabsf(ref[i]));
        const float d = t_max_abs_diff(y, ref, nout);
        CHECK(d <= 1e-5f * (1.0f + m), "%s: max |engine - oracle| = %g (max |y| %g)", what, d, m);
    }
    kiln_context_free(c);
    free(x), free(ref), free(y);
}

static kiln_engine *build(kiln_graph *g, int mode, int threads, const char *cache)
{
    kiln_network *net = t_network(kiln_graph_clone(g));
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.tactics = mode, o.threads = threads, o.batch_max = 3, o.timing_cache = cache;
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(net, &o, &e));
    t_network_free(net);
    return e;
}

static int optimized_layers(const kiln_engine *e)
{
    int n = 0;
    for (int i = 0; i < e->g->n_nodes; i++) n += e->layers[i].tactic > 0;
    return n;
}

/* Child mode: load `path` (built with AVX-512 tactics) under KILN_ISA=avx2 and check it. */
static int child(const char *path)
{
    kiln_graph *g = graph_mobile();
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_load(path, &e));
    CHECK(kiln_cpu_isa() == KILN_ISA_AVX2, "KILN_ISA=avx2 gave level %s", kiln_isa_name(kiln_cpu_isa()));
    if (e) {
        int fell = 0;
        for (int i = 0; i < e->g->n_nodes; i++) fell += kiln_cpu_engine_run_tactic(e, i) != e->layers[i].tactic;
        CHECK(fell > 0, "no layer fell back from avx512");
        CHECK(strstr(kiln_cpu_engine_note(e), "avx2") != NULL, "note: '%s'", kiln_cpu_engine_note(e));
        char *desc = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&desc, &len);
        CHECK_OK(kiln_engine_describe(e, m, 0));
        fclose(m);
        CHECK(desc && strstr(desc, "fallback") && strstr(desc, "->"), "describe does not show the fallback");
        free(desc);
        check_engine(e, g, 2, "avx512 engine under KILN_ISA=avx2");
    }
    kiln_engine_free(e);
    kiln_graph_free(g);
    printf("child: %d failures\n", t_failures);
    return t_failures ? 1 : 0;
}

/* Multiply-adds a kernel does (kiln_cpu_tactic_mults, kiln_layer_info.kernel_flops: `kiln bench`'s % peak and its
 * multiply floor): Winograd F(m x m, r x r) tactics do ceil(OH/m) x ceil(OW/m) tiles of (m+r-1)^2 products of Cin x
 * Cout, counted here from the tactic's name; every other tactic does the direct convolution's (-1). Then an engine's
 * layers report those counts for the kernels that run them, and the bytes of the weights those kernels read. */
static void check_kernel_mults(void)
{
    kiln_graph *g = kiln_graph_new();
    int64_t in_dims[4] = { 1, 14, 13, 64 };
    int x = kiln_graph_add_input(g, "image", 4, in_dims);
    x = t_conv(g, "conv3", x, 3, 40);   /* 14x13 output: F(4x4) 4 x 4 tiles, F(2x2) 7 x 7 */
    x = t_conv(g, "conv5", x, 5, 24);   /* F(2x2, 5x5) 7 x 7 tiles of 36 points */
    kiln_graph_mark_output(g, x);
    int nt = 0, wino = 0;
    const kiln_cpu_tactic *ts = kiln_cpu_tactics(KILN_OP_CONV2D, &nt);
    for (int c = 0; c < 2; c++) {
        const kiln_node *n = &g->nodes[c];
        const int64_t cin = c == 0 ? 64 : 40, cout = c == 0 ? 40 : 24, r = c == 0 ? 3 : 5;
        for (int t = 0; t < nt; t++) {
            const char *name = ts[t].name;
            const int m = strstr(name, "winograd_f4") ? 4 : strstr(name, "winograd_f2") ? 2 : 0;
            const int k5 = strstr(name, "f2k5") != NULL;
            double want = -1;
            if (m && (k5 ? r == 5 : r == 3)) {
                const int64_t alpha = m + r - 1, tiles = ((14 + m - 1) / m) * ((13 + m - 1) / m);
                want = (double)(tiles * alpha * alpha * cin * cout);
                wino++;
            }
            if (m && !(k5 ? r == 5 : r == 3)) continue; /* a Winograd tactic of the other kernel size */
            if (!ts[t].run && t > 0) continue;          /* another architecture's tactic: no run function here */
            const double got = kiln_cpu_tactic_mults(g, n, t);
            CHECK(got == want, "%s on %s: %g multiply-adds, expected %g", name, n->name, got, want);
        }
    }
    CHECK(wino >= 3, "only %d Winograd tactics in the conv list", wino);

    kiln_engine *e = build(g, KILN_TACTICS_HEURISTIC, 1, NULL);
    for (int i = 0; e && i < e->g->n_nodes; i++) {
        kiln_layer_info li;
        CHECK_OK(kiln_engine_layer_info(e, i, &li));
        const kiln_node *n = &e->g->nodes[i];
        const int t = kiln_cpu_engine_run_tactic(e, i);
        const double mults = kiln_cpu_tactic_mults(e->g, n, t);
        CHECK(li.kernel_flops == (mults >= 0 ? 2 * mults : li.flops) && li.kernel_flops > 0,
              "layer %s (%s): kernel_flops %g, flops %g", n->name, kiln_cpu_tactic_name(KILN_OP_CONV2D, t),
              li.kernel_flops, li.flops);
        const int64_t wbytes = kiln_value_numel(&e->g->values[n->inputs[1]]) * 4;
        const size_t packed = kiln_cpu_tactic_packed_bytes(e->g, n, t);
        CHECK(packed ? li.weight_bytes == (int64_t)packed && li.weight_bytes >= wbytes : li.weight_bytes > wbytes,
              "layer %s: weight_bytes %lld (weights %lld, packed %zu)", n->name, (long long)li.weight_bytes,
              (long long)wbytes, packed);
        printf("kernel mults: %s %s: %.0f of %.0f direct, %lld weight bytes\n", n->name,
               kiln_cpu_tactic_name(KILN_OP_CONV2D, t), li.kernel_flops / 2, li.flops / 2, (long long)li.weight_bytes);
    }
    kiln_engine_free(e);
    kiln_graph_free(g);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--load-under-avx2")) return child(argv[2]);
    const char *bdir = getenv("KILN_BUILD_DIR") ? getenv("KILN_BUILD_DIR") : ".";
    char p1[512], p2[512], cache[512];
    snprintf(p1, sizeof p1, "%s/test_cpu_tactics_a.kiln", bdir);
    snprintf(p2, sizeof p2, "%s/test_cpu_tactics_b.kiln", bdir);
    snprintf(cache, sizeof cache, "%s/test_cpu_tactics.cache", bdir);
    unlink(cache);

    kiln_graph *g = graph_mobile();
    const int modes[3] = { KILN_TACTICS_REFERENCE, KILN_TACTICS_HEURISTIC, KILN_TACTICS_TIMED };
    for (int m = 0; m < 3; m++)
        for (int th = 1; th <= 2; th++) {
            kiln_engine *e = build(g, modes[m], th, m == 2 ? cache : NULL);
            if (!e) continue;
            char what[64];
            snprintf(what, sizeof what, "mode %d, %d threads", modes[m], th);
            if (m == 0) CHECK(optimized_layers(e) == 0, "%s: reference mode chose optimized tactics", what);
            else CHECK(optimized_layers(e) >= 5, "%s: only %d optimized layers", what, optimized_layers(e));
            check_engine(e, g, 1, what);
            check_engine(e, g, 3, what);
            kiln_engine_free(e);
        }

    /* Heuristic builds: byte-identical engine files. */
    kiln_engine *a = build(g, KILN_TACTICS_HEURISTIC, 2, NULL), *b = build(g, KILN_TACTICS_HEURISTIC, 2, NULL);
    if (a && b) {
        CHECK_OK(kiln_engine_save(a, p1));
        CHECK_OK(kiln_engine_save(b, p2));
        long la = 0, lb = 0;
        char *fa = slurp(p1, &la), *fb = slurp(p2, &lb);
        CHECK(fa && fb && la == lb && la > 0 && !memcmp(fa, fb, (size_t)la), "heuristic builds differ (%ld vs %ld bytes)",
              la, lb);
        free(fa), free(fb);
    }
    kiln_engine_free(b);

    /* Timing cache: the timed builds above filled it; a rebuild finds every layer there and leaves it unchanged. */
    long lc1 = 0, lc2 = 0;
    char *c1 = slurp(cache, &lc1);
    CHECK(c1 && lc1 > 30 && !strncmp(c1, "kiln-timing-cache 1", 19), "timing cache not written");
    kiln_engine *t1 = build(g, KILN_TACTICS_TIMED, 1, cache), *t2 = build(g, KILN_TACTICS_TIMED, 1, cache);
    char *c2 = slurp(cache, &lc2);
    CHECK(c1 && c2 && lc1 == lc2 && !memcmp(c1, c2, (size_t)lc1), "a cached rebuild changed the timing cache");
    if (t1 && t2)
        for (int i = 0; i < t1->g->n_nodes; i++)
            CHECK(t1->layers[i].tactic == t2->layers[i].tactic, "layer %d: cached rebuild chose another tactic", i);
    free(c1), free(c2);
    kiln_engine_free(t1), kiln_engine_free(t2);

    /* ISA fallback: the heuristic engine saved above (AVX-512 tactics on this CPU) loads under KILN_ISA=avx2. */
    if (kiln_cpu_isa() == KILN_ISA_AVX512 && a) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "KILN_ISA=avx2 '%s' --load-under-avx2 '%s'", argv[0], p1);
        const int rc = system(cmd);
        CHECK(rc == 0, "the KILN_ISA=avx2 child failed (%d)", rc);
    } else {
        printf("skipping the AVX-512 -> AVX2 fallback run: CPU level is %s\n", kiln_isa_name(kiln_cpu_isa()));
    }
    kiln_engine_free(a);
    unlink(p1), unlink(p2), unlink(cache);
    kiln_graph_free(g);
    /* last: its random weights would change graph_mobile()'s, which the KILN_ISA=avx2 child rebuilds */
    check_kernel_mults();
    printf("%d failures\n", t_failures);
    return t_failures ? 1 : 0;
}
