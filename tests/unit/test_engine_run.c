/* Engines built from hand-made graphs compute what the unoptimized graph computes with the reference kernels
 * (the oracle, no passes, one buffer per value), for every batch in the range; options are validated; contexts are
 * independent; describe shows the fused layers. */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "test_engine_util.h"

#include "runtime/layers.h"

#define MAXB 4

typedef struct {
    const char *label;
    kiln_graph *(*make)(void);
} graph_case;

/* Build `g` as an engine (batch 1:4, optimizer passes as given, pass_batch samples per pass through the layers) and
 * compare with the oracle at batch 3 within 1e-5; with pass_batch, also after an engine save -> load. */
static void check_against_oracle(const graph_case *gc, const char *disabled, int pass_batch)
{
    t_rng = 777u;
    kiln_network *net = t_network(gc->make());
    const kiln_graph *g = net->g;
    int in_nodes = g->n_nodes;
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_min = 1;
    opt.batch_max = MAXB;
    opt.disabled_passes = disabled;
    opt.pass_batch = pass_batch;
    kiln_engine *e = NULL;
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_engine_build(net, &opt, &e));
    if (!e) goto done;
    if (pass_batch) { /* batch 3 runs as passes of 1+1+1 or 2+1: through a saved and reloaded engine */
        CHECK(e->pass_batch == pass_batch, "pass_batch %d asked, engine has %d", pass_batch, e->pass_batch);
        char path[] = "/tmp/kiln_test_passXXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) close(fd);
        CHECK_OK(kiln_engine_save(e, path));
        kiln_engine_free(e);
        e = NULL;
        CHECK_OK(kiln_engine_load(path, &e));
        unlink(path);
        if (!e) goto done;
        CHECK(e->pass_batch == pass_batch, "pass_batch %d lost in the engine file (%d)", pass_batch, e->pass_batch);
    }
    CHECK(g->n_nodes == in_nodes, "build changed the network (%d -> %d nodes)", in_nodes, g->n_nodes);
    CHECK_OK(kiln_context_create(e, &ctx));
    const int batch = 3;
    float *ins[4] = { 0 }, *want[4] = { 0 }, *got[4] = { 0 };
    for (int i = 0; i < g->n_inputs; i++) {
        int64_t n = t_numel_batch(g, g->inputs[i], batch);
        ins[i] = malloc(sizeof(float) * (size_t)n);
        t_fill(ins[i], n, -1.0f, 1.0f);
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int64_t n = t_numel_batch(g, g->outputs[i], batch);
        want[i] = calloc((size_t)n, sizeof(float));
        got[i] = malloc(sizeof(float) * (size_t)n);
        for (int64_t k = 0; k < n; k++) got[i][k] = NAN; /* every element must be written */
    }
    t_oracle(g, batch, (const float *const *)ins, want);
    CHECK_OK(t_run(ctx, g->n_inputs, (const float *const *)ins, g->n_outputs, got, batch));
    for (int i = 0; i < g->n_outputs; i++) {
        int64_t n = t_numel_batch(g, g->outputs[i], batch);
        float d = t_max_abs_diff(want[i], got[i], n);
        CHECK(d <= 1e-5f, "%s (disabled: %s, pass batch %d) output %d: max |engine - oracle| = %g", gc->label,
              disabled ? disabled : "none", pass_batch, i, d);
        /* the engine's output i is the network's output i, by name */
        kiln_tensor_info info;
        CHECK_OK(kiln_engine_output_info(e, i, &info));
        CHECK(!strcmp(info.name, g->values[g->outputs[i]].name), "output %d is called '%s', the model says '%s'", i,
              info.name, g->values[g->outputs[i]].name);
        CHECK(info.dims[0] == MAXB && info.batch_min == 1 && info.batch_max == MAXB, "output %d batch info", i);
    }
    CHECK(e->arena_bytes > 0 && e->arena_bytes % 64 == 0, "arena %lld", (long long)e->arena_bytes);
    for (int i = 0; i < 4; i++) {
        free(ins[i]);
        free(want[i]);
        free(got[i]);
    }
done:
    kiln_context_free(ctx);
    kiln_engine_free(e);
    t_network_free(net);
}

/* The optimizer did fuse: fused names, fewer layers, output names kept. */
static void check_fusion_names(void)
{
    kiln_network *net = t_network(t_graph_cnn());
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(net, NULL, &e));
    if (!e) {
        t_network_free(net);
        return;
    }
    const kiln_graph *g = e->g;
    /* conv2d_3+bn+act, maxpool, flatten, dense, softmax: dropout and the same-shape reshape are gone */
    CHECK(g->n_nodes == 5, "cnn engine has %d layers, want 5", g->n_nodes);
    CHECK(!strcmp(g->nodes[0].name, "conv2d_3 + batch_normalization_3 + activation_3"), "layer 0 is '%s'",
          g->nodes[0].name);
    CHECK(g->nodes[0].attrs.act.kind == KILN_ACT_RELU, "fused activation %d", g->nodes[0].attrs.act.kind);
    CHECK(kiln_engine_find_output(e, "Logits") == 0, "output 'Logits' not found");
    CHECK(kiln_engine_find_input(e, "input_1") == 0, "input 'input_1' not found");
    CHECK(kiln_engine_find_input(e, "nope") == -1, "found a missing input");
    for (int i = 0; i < g->n_nodes; i++)
        CHECK(g->nodes[i].op != KILN_OP_IDENTITY && g->nodes[i].op != KILN_OP_BATCHNORM, "layer %d '%s' survived", i,
              g->nodes[i].name);
    /* weights block: one 64-byte aligned block holding every constant, each 64-byte aligned */
    CHECK(((uintptr_t)e->weights & 63) == 0, "weights block not aligned");
    for (int v = 0; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        if (val->kind != KILN_VALUE_CONSTANT) continue;
        CHECK(!val->owns_data && (char *)val->data >= (char *)e->weights &&
                  (char *)val->data + kiln_value_numel(val) * 4 <= (char *)e->weights + e->weights_bytes &&
                  ((uintptr_t)val->data & 63) == 0,
              "constant '%s' is not inside the weights block", val->name);
    }
    kiln_engine_free(e);
    t_network_free(net);

    net = t_network(t_graph_branchy());
    CHECK_OK(kiln_engine_build(net, NULL, &e));
    if (e) {
        g = e->g;
        CHECK(kiln_engine_find_output(e, "Probs") == 0 && kiln_engine_find_output(e, "Features") == 1,
              "branchy outputs renamed");
        int found = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            found += !strcmp(g->nodes[i].name, "conv_b + bn_b + act_b");
            found += !strcmp(g->nodes[i].name, "dense_out + Probs");
            /* conv_c's output is read by the add only, so its BN folds, then the residual add and its relu6 fuse
             * into it (the concat, read twice, is the residual input) */
            found += !strcmp(g->nodes[i].name, "conv_c + bn_c + add + relu6");
        }
        CHECK(found == 3, "expected fused layers missing (%d of 3)", found);
        kiln_engine_free(e);
    }
    t_network_free(net);
}

static void check_batch_range(void)
{
    t_rng = 99u;
    kiln_network *net = t_network(t_graph_cnn());
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_min = 1;
    opt.batch_max = 4;
    kiln_engine *e = NULL;
    kiln_context *ctx = NULL, *ctx2 = NULL;
    CHECK_OK(kiln_engine_build(net, &opt, &e));
    if (!e) goto done;
    CHECK_OK(kiln_context_create(e, &ctx));
    CHECK_OK(kiln_context_create(e, &ctx2));
    const int64_t in_n = 8 * 8 * 3, out_n = 10;
    float x[3 * 8 * 8 * 3], y3[30], y1[10], y2[30];
    t_fill(x, 3 * in_n, -1, 1);
    CHECK_OK(t_run(ctx, 1, (const float *const[]){ x }, 1, (float *[]){ y3 }, 3));
    for (int s = 0; s < 3; s++) {
        CHECK_OK(t_run(ctx, 1, (const float *const[]){ x + s * in_n }, 1, (float *[]){ y1 }, 1));
        CHECK(!memcmp(y1, y3 + s * out_n, sizeof y1), "sample %d differs between batch 1 and batch 3", s);
    }
    /* a second context on the same engine: same numbers, and its arena is its own */
    CHECK_OK(t_run(ctx2, 1, (const float *const[]){ x }, 1, (float *[]){ y2 }, 3));
    CHECK(!memcmp(y2, y3, sizeof y2), "two contexts on one engine differ");
    CHECK(ctx->arena != ctx2->arena, "contexts share an arena");
    /* out of range */
    kiln_status st = kiln_context_run(ctx, 0);
    CHECK(st == KILN_ERR_INVALID_ARGUMENT && strstr(kiln_last_error(), "batch 0 is outside the engine's batch range 1:4"),
          "batch 0: %s / %s", kiln_status_string(st), kiln_last_error());
    st = kiln_context_run(ctx, 5);
    CHECK(st == KILN_ERR_INVALID_ARGUMENT && strstr(kiln_last_error(), "batch 5"), "batch 5: %s / %s",
          kiln_status_string(st), kiln_last_error());
    /* nothing bound */
    kiln_context *fresh = NULL;
    CHECK_OK(kiln_context_create(e, &fresh));
    st = kiln_context_run(fresh, 1);
    CHECK(st == KILN_ERR_INVALID_ARGUMENT && strstr(kiln_last_error(), "input 0 'input_1' has no buffer"), "%s",
          kiln_last_error());
    CHECK(kiln_context_bind_input(fresh, 1, x) == KILN_ERR_INVALID_ARGUMENT, "bound a missing input");
    kiln_context_free(fresh);
done:
    kiln_context_free(ctx);
    kiln_context_free(ctx2);
    kiln_engine_free(e);
    t_network_free(net);
}

static void expect_refused(kiln_network *net, kiln_build_options *opt, kiln_status want, const char *msg)
{
    kiln_engine *e = (kiln_engine *)1;
    kiln_status st = kiln_engine_build(net, opt, &e);
    CHECK(st == want && e == NULL && strstr(kiln_last_error(), msg), "want %s '%s', got %s '%s'",
          kiln_status_string(want), msg, kiln_status_string(st), kiln_last_error());
}

static void check_options(void)
{
    kiln_network *net = t_network(t_graph_cnn());
    kiln_build_options o;
    kiln_build_options_init(&o);
    CHECK(o.batch_min == 1 && o.batch_max == 1 && o.threads == 1 && o.precision == KILN_PRECISION_FP32 &&
              o.disabled_passes == NULL,
          "defaults");
    o.batch_min = 0;
    expect_refused(net, &o, KILN_ERR_INVALID_ARGUMENT, "batch_min is 0");
    kiln_build_options_init(&o);
    o.batch_min = 4;
    o.batch_max = 2;
    expect_refused(net, &o, KILN_ERR_INVALID_ARGUMENT, "batch range 4:2 is empty");
    kiln_build_options_init(&o);
    o.threads = 0;
    expect_refused(net, &o, KILN_ERR_INVALID_ARGUMENT, "threads is 0");
    kiln_build_options_init(&o);
    o.precision = KILN_PRECISION_FP16;
    expect_refused(net, &o, KILN_ERR_UNSUPPORTED, "FP16");
    kiln_build_options_init(&o);
    o.disabled_passes = "fold_batchnorm,fuse_everything";
    expect_refused(net, &o, KILN_ERR_INVALID_ARGUMENT, "unknown optimizer pass 'fuse_everything'");
    t_network_free(net);
}

static void check_describe(void)
{
    kiln_network *net = t_network(t_graph_branchy());
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.batch_max = 2;
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(net, &o, &e));
    if (!e) {
        t_network_free(net);
        return;
    }
    /* layer FLOPs (kiln bench's GFLOP/s): conv = 2 * OH * OW * Cout * KH * KW * Cin / groups from the attributes and
     * the input's shape; dense = 2 * K * N; other layers 0 */
    for (int i = 0; i < e->g->n_nodes; i++) {
        const kiln_node *n = &e->g->nodes[i];
        const kiln_value *x = &e->g->values[n->inputs[0]], *y = &e->g->values[n->output];
        double want = 0;
        if (n->op == KILN_OP_CONV2D)
            want = 2.0 * (double)(y->dims[1] * y->dims[2] * y->dims[3]) * n->attrs.kernel[0] * n->attrs.kernel[1] *
                   (double)(x->dims[3] / n->attrs.groups);
        else if (n->op == KILN_OP_DENSE)
            want = 2.0 * (double)x->dims[x->rank - 1] * (double)y->dims[y->rank - 1];
        kiln_layer_info li;
        CHECK_OK(kiln_engine_layer_info(e, i, &li));
        CHECK(li.flops == want, "layer %d (%s): flops %g, expected %g", i, li.type, li.flops, want);
    }
    char *text = NULL, *json = NULL;
    size_t tn = 0, jn = 0;
    FILE *f = open_memstream(&text, &tn);
    CHECK_OK(kiln_engine_describe(e, f, 0));
    fclose(f);
    f = open_memstream(&json, &jn);
    CHECK_OK(kiln_engine_describe(e, f, 1));
    fclose(f);
    CHECK(strstr(text, "conv_b + bn_b + act_b") && strstr(text, "batch 1:2") && strstr(text, "parameters: ") &&
              strstr(text, "Probs") && strstr(text, "[N,6,6,8]"),
          "text description:\n%s", text);
    cJSON *root = cJSON_Parse(json);
    CHECK(root != NULL, "describe --json is not JSON:\n%s", json);
    if (root) {
        cJSON *layers = cJSON_GetObjectItem(root, "Layers"), *bind = cJSON_GetObjectItem(root, "Bindings");
        CHECK(cJSON_GetArraySize(layers) == e->g->n_nodes, "Layers has %d entries", cJSON_GetArraySize(layers));
        CHECK(cJSON_GetArraySize(bind) == 3, "Bindings has %d entries", cJSON_GetArraySize(bind));
        cJSON *l0 = cJSON_GetArrayItem(layers, 0);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(l0, "Name")) && cJSON_IsString(cJSON_GetObjectItem(l0, "LayerType")) &&
                  cJSON_IsArray(cJSON_GetObjectItem(l0, "Inputs")) && cJSON_IsArray(cJSON_GetObjectItem(l0, "Outputs")) &&
                  cJSON_IsString(cJSON_GetObjectItem(l0, "TacticName")) && /* "ref" or an optimized CPU tactic */
                  cJSON_GetObjectItem(l0, "TacticName")->valuestring[0] != '\0',
              "layer 0 fields");
        int64_t params = (int64_t)cJSON_GetObjectItem(root, "ParameterCount")->valuedouble;
        CHECK(params == kiln_graph_param_count(e->g), "ParameterCount %lld", (long long)params);
        double arena = cJSON_GetObjectItem(root, "ArenaBytes")->valuedouble;
        double total = cJSON_GetObjectItem(root, "ActivationBytesTotal")->valuedouble;
        CHECK(arena > 0 && arena <= total, "arena %g vs all activations %g", arena, total);
        cJSON *b0 = cJSON_GetArrayItem(bind, 0);
        CHECK(!strcmp(cJSON_GetObjectItem(b0, "Name")->valuestring, "image") &&
                  cJSON_IsTrue(cJSON_GetObjectItem(b0, "IsInput")) &&
                  cJSON_GetArrayItem(cJSON_GetObjectItem(b0, "Dimensions"), 0)->valueint == -1,
              "binding 0");
        cJSON_Delete(root);
    }
    free(text);
    free(json);
    kiln_engine_free(e);
    t_network_free(net);
}

typedef struct {
    int n, bad_batch;
    double sum_ms;
    const float *last_output; /* the output pointer of the last layer's event */
} timer_events;

static void on_timer_event(void *user, const kiln_layer_event *ev)
{
    timer_events *t = user;
    t->n++;
    t->bad_batch += ev->batch != 5;
    t->sum_ms += ev->ms;
    t->last_output = ev->output;
}

/* A layer timer (profiling) runs a batch in the engine's passes, as unprofiled runs do, and still gives one event per
 * layer for the whole batch, the passes' times summed; a layer callback runs the batch in one pass. An engine with
 * passes of 2 samples runs batch 5 as 2 + 2 + 1: the last layer (the graph output) then ends its last pass writing
 * samples 4.. of the caller's buffer, and that is the output its timer event shows. */
static void check_timer_passes(void)
{
    t_rng = 31u;
    kiln_network *net = t_network(t_graph_cnn());
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.batch_max = 5, o.pass_batch = 2, o.threads = 2;
    kiln_engine *e = NULL;
    CHECK_OK(kiln_engine_build(net, &o, &e));
    if (!e) {
        t_network_free(net);
        return;
    }
    const kiln_graph *g = e->g;
    const int64_t nx = t_numel_batch(g, g->inputs[0], 5), ny1 = kiln_value_numel(&g->values[g->outputs[0]]);
    float *x = malloc(sizeof(float) * (size_t)nx), *y0 = malloc(sizeof(float) * (size_t)ny1 * 5);
    float *y1 = malloc(sizeof(float) * (size_t)ny1 * 5);
    t_fill(x, nx, -1, 1);
    t_run_engine(e, x, y0, 5);
    for (int mode = 0; mode < 2; mode++) {
        kiln_context *c = NULL;
        CHECK_OK(kiln_context_create(e, &c));
        if (!c) break;
        timer_events t = { 0 };
        if (mode) CHECK_OK(kiln_context_set_layer_timer(c, on_timer_event, &t));
        else CHECK_OK(kiln_context_set_layer_callback(c, on_timer_event, &t));
        const float *ins[1] = { x };
        const double t0 = kiln_layer_clock_ms();
        CHECK_OK(t_run(c, 1, ins, 1, &y1, 5));
        const double wall = kiln_layer_clock_ms() - t0;
        const char *what = mode ? "timer" : "callback";
        CHECK(!memcmp(y0, y1, sizeof(float) * (size_t)ny1 * 5), "%s: output differs from an unprofiled run", what);
        CHECK(t.n == g->n_nodes && !t.bad_batch, "%s: %d events for %d layers, %d not for the batch of 5", what, t.n,
              g->n_nodes, t.bad_batch);
        CHECK(t.sum_ms > 0 && t.sum_ms <= wall, "%s: layer times sum to %g ms, the run took %g", what, t.sum_ms, wall);
        const float *want = mode ? y1 + 4 * ny1 : y1; /* timer: the last pass (sample 4); callback: one pass */
        CHECK(t.last_output == want, "%s: the last layer's event shows output %p, want %p (y %p): %s", what,
              (const void *)t.last_output, (const void *)want, (const void *)y1,
              mode ? "the run was not in passes" : "the run was not in one pass");
        kiln_context_free(c);
    }
    free(x), free(y0), free(y1);
    kiln_engine_free(e);
    t_network_free(net);
}

int main(void)
{
    const graph_case cases[] = { { "cnn", t_graph_cnn }, { "branchy", t_graph_branchy } };
    const char *disabled[] = { NULL, "remove_identity,fold_batchnorm,fuse_activation", "fuse_activation",
                               "fold_batchnorm", "remove_identity" };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t d = 0; d < sizeof disabled / sizeof disabled[0]; d++)
            for (int pb = 0; pb <= (d == 0 ? 2 : 0); pb++) check_against_oracle(&cases[c], disabled[d], pb);
    check_fusion_names();
    check_batch_range();
    check_options();
    check_describe();
    check_timer_passes();
    if (t_failures) {
        fprintf(stderr, "test_engine_run: %d check(s) failed\n", t_failures);
        return 1;
    }
    printf("test_engine_run: all checks passed\n");
    return 0;
}
