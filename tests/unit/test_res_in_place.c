/* A conv with a fused residual written over the residual's own buffer (plan.h res_in_place, gemm_variant.inc
 * kiln_gemm_res_in_place): when the residual dies at the conv and its kernel is a gemm, the planner gives the output
 * the residual's bytes, and the kernel starts from them as its partial sums. Checked: the planner did alias (value
 * offsets), the output agrees with the reference oracle and with an engine planned without in-place reuse, over
 * 1x1 / 3x3 convs, one and several K blocks (Cin 400 > the gemm's K block), 7x7 maps (the 7-row tiles), 14x14 (the
 * 14x32 asm tile, its partial last tile at 7x7), narrow outputs (the 16x16 tile), 1-3 threads, batches 1 and 3; and
 * that y = conv(x) + x (the conv reads the residual's buffer elsewhere) is not aliased. */
#include "cpu/tactics.h"
#include "test_engine_util.h"

typedef struct {
    /* x [H, W, Cin] -> c1 = relu(1x1 -> C) -> c2 = relu(KxK -> mid) -> r = relu(1x1(c2) + c1) */
    int H, W, Cin, C, K, mid;
    int self;                 /* 1: r = relu(KxK conv(c1) + c1): input and residual the same buffer (no alias) */
} res_case;

/* ... -> r -> 1x1 conv to 8 channels (the graph output, so that r is an arena value, not the caller's buffer). The
 * optimizer fuses the add into conv "r" (its input 3): the test finds that conv in the engine's graph. */
static kiln_graph *make_graph(const res_case *c)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, c->H, c->W, c->Cin };
    int x = kiln_graph_add_input(g, "x", 4, xd);
    int c1 = t_act(g, "c1_act", t_conv(g, "c1", x, 1, c->C), kiln_act_relu());
    int y;
    if (c->self) {
        y = t_conv(g, "r", c1, c->K, c->C);
    } else {
        int c2 = t_act(g, "c2_act", t_conv(g, "c2", c1, c->K, c->mid), kiln_act_relu());
        y = t_conv(g, "r", c2, 1, c->C);
    }
    int ab[2] = { y, c1 };
    int r = t_act(g, "r_act", t_simple(g, KILN_OP_ADD, "add", ab, 2, 0), kiln_act_relu());
    kiln_graph_mark_output(g, t_conv(g, "head", r, 1, 8));
    return g;
}

static kiln_engine *build(kiln_network *net, int threads, const char *disabled)
{
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_max = 3;
    opt.threads = threads;
    opt.tactics = KILN_TACTICS_HEURISTIC;
    opt.disabled_passes = disabled;
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(net, &opt, &e));
    return e;
}

/* The fused residual conv of the engine (input 3 present), or -1. */
static int residual_conv(const kiln_engine *e)
{
    for (int i = 0; i < e->g->n_nodes; i++)
        if (e->g->nodes[i].op == KILN_OP_CONV2D && e->g->nodes[i].n_inputs > 3) return i;
    return -1;
}

static void check_case(const res_case *c, int threads)
{
    t_rng = 777u;
    kiln_network *net = t_network(make_graph(c));
    const kiln_graph *g = net->g;
    char what[160];
    snprintf(what, sizeof what, "%dx%dx%d -> %d, %s %dx%d (%d), %d thread(s)", c->H, c->W, c->Cin, c->C,
             c->self ? "self-residual" : "residual over", c->K, c->K, c->mid, threads);
    kiln_engine *on = build(net, threads, NULL), *off = build(net, threads, "in_place");
    if (!on || !off) goto done;
    const int i = residual_conv(on);
    CHECK(i >= 0, "%s: no fused residual conv", what);
    if (i < 0) goto done;
    const kiln_node *n = &on->g->nodes[i];
    const int aliased = on->value_offset[n->output] == on->value_offset[n->inputs[3]];
    const int gemm = kiln_cpu_tactic_writes_over_residual(on->g, n, on->layers[i].tactic);
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get(KILN_OP_CONV2D, on->layers[i].tactic);
    if (c->self)
        CHECK(!aliased, "%s: the output was planned over the residual the conv also reads as its input", what);
    else
        CHECK(aliased == gemm, "%s: tactic %s (gemm %d): output %s the residual's bytes", what, k ? k->name : "?",
              gemm, aliased ? "over" : "not over");
    const int i_off = residual_conv(off);
    CHECK(i_off >= 0 && off->value_offset[off->g->nodes[i_off].output] !=
                            off->value_offset[off->g->nodes[i_off].inputs[3]],
          "%s: aliased with in_place disabled", what);
    for (int batch = 1; batch <= 3; batch += 2) {
        const int64_t nx = t_numel_batch(g, g->inputs[0], batch), ny = t_numel_batch(g, g->outputs[0], batch);
        float *x = malloc(sizeof(float) * (size_t)nx), *want = calloc((size_t)ny, sizeof(float));
        float *y_on = malloc(sizeof(float) * (size_t)ny), *y_off = malloc(sizeof(float) * (size_t)ny);
        t_fill(x, nx, -1.0f, 1.0f);
        for (int64_t j = 0; j < ny; j++) y_on[j] = y_off[j] = NAN;
        const float *xs = x;
        t_oracle(g, batch, &xs, &want);
        t_run_engine(on, x, y_on, batch);
        t_run_engine(off, x, y_off, batch);
        const float d_oracle = t_max_abs_diff(want, y_on, ny), d_off = t_max_abs_diff(y_off, y_on, ny);
        CHECK(d_oracle <= 2e-4f, "%s: batch %d: max |in place - oracle| = %g", what, batch, d_oracle);
        CHECK(d_off <= 2e-5f, "%s: batch %d: max |in place - separate buffers| = %g", what, batch, d_off);
        free(x);
        free(want);
        free(y_on);
        free(y_off);
    }
done:
    kiln_engine_free(on);
    kiln_engine_free(off);
    t_network_free(net);
}

int main(void)
{
    /* gemm tactics only here (an AMX conv does not write over its residual: its engine must not alias) */
    setenv("KILN_TACTICS_EXCLUDE", "conv_amx_bf16x6", 1);
    const res_case cases[] = {
        { 14, 14, 16, 64, 3, 24, 0 },  /* 14x32 tiles, one K block */
        { 14, 14, 16, 64, 1, 400, 0 }, /* K = 400: partial sums through the output (3 K blocks) */
        { 7, 7, 32, 96, 3, 500, 0 },   /* 7x7: the 7-row tiles, K blocks */
        { 9, 5, 8, 40, 1, 24, 0 },     /* 45 pixels, 40 channels: the 16x16 tile, a partial last tile */
        { 28, 28, 8, 32, 3, 16, 0 },   /* several tile groups */
        { 14, 14, 16, 32, 3, 0, 1 },   /* r = conv(c1) + c1: never in place */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 3; threads++) check_case(&cases[i], threads);
    if (t_failures) {
        fprintf(stderr, "test_res_in_place: %d check(s) failed\n", t_failures);
        return 1;
    }
    printf("test_res_in_place: all checks passed\n");
    return 0;
}
