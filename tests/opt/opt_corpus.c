/* Optimizer + memory planner on the Keras corpus (tests/keras/make_models.py output):
 *
 *   opt_corpus CORPUS_DIR NAME...
 *
 * For every model: the engine built with all passes, with --no-fusion (no pass at all) and with each pass alone
 * disabled must give the same outputs on the corpus input (batch 2) within 1e-5 (absolute for softmax heads, times
 * max|y| otherwise), the --no-fusion engine being the reference: the graph as imported, every op its own reference
 * kernel. The activation arena of every optimized variant must stay within 1.1x of its lower bound (the most bytes
 * live at once); the --no-fusion arena is printed.
 * Model-specific structure (the acceptance list):
 *   googlenet_bn    no BatchNorm left, every conv fused with its ReLU, one horizontal (||) conv per inception module
 *                   (each Concat of the imported graph), zero concat copy kernels, zero transposes;
 *   mobilenet_v2    no Activation node left (ReLU6 fused), every residual Add fused into its conv;
 *   efficientnet_b0 no standalone swish, every squeeze-excite block fused (one per Multiply of the imported graph).
 * Engines use heuristic tactics (deterministic and quick to build; the timed choice only reorders which kernels run).
 * Exit 0 when all checks pass, 1 otherwise; 77 when the corpus is missing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "plan/plan.h"
#include "runtime/engine_internal.h"
#include "opt/opt.h"
#include "util/npy.h"

static int failures;
#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "FAIL %s: ", model);                                         \
            fprintf(stderr, __VA_ARGS__);                                                \
            fprintf(stderr, "\n");                                                       \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

static const char *model;

static int count_op(const kiln_graph *g, kiln_op op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += g->nodes[i].op == (int)op;
    return n;
}

/* Build with `disabled`, run x (batch rows), return the first output (malloc'd) and its element count. */
static float *run_variant(const kiln_network *net, const char *disabled, const float *x, int batch, int64_t *n_out,
                          kiln_engine **keep)
{
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.batch_min = 1;
    o.batch_max = batch;
    o.tactics = KILN_TACTICS_HEURISTIC;
    o.disabled_passes = disabled;
    kiln_engine *e = NULL;
    kiln_context *c = NULL;
    if (kiln_engine_build(net, &o, &e) || kiln_context_create(e, &c)) {
        CHECK(0, "build/context with disabled '%s': %s", disabled ? disabled : "", kiln_last_error());
        kiln_engine_free(e);
        return NULL;
    }
    kiln_tensor_info ti;
    kiln_engine_output_info(e, 0, &ti);
    int64_t n = batch;
    for (int d = 1; d < ti.rank; d++) n *= ti.dims[d];
    float **outs = calloc((size_t)kiln_engine_num_outputs(e), sizeof(float *));
    for (int i = 0; i < kiln_engine_num_outputs(e); i++) {
        kiln_tensor_info t2;
        kiln_engine_output_info(e, i, &t2);
        int64_t m = batch;
        for (int d = 1; d < t2.rank; d++) m *= t2.dims[d];
        outs[i] = calloc((size_t)m, sizeof(float));
        kiln_context_bind_output(c, i, outs[i]);
    }
    kiln_context_bind_input(c, 0, x);
    if (kiln_context_run(c, batch)) CHECK(0, "run with disabled '%s': %s", disabled ? disabled : "", kiln_last_error());
    float *y = outs[0];
    for (int i = 1; i < kiln_engine_num_outputs(e); i++) free(outs[i]);
    free(outs);
    kiln_context_free(c);
    /* the 1.1x bound holds for engines the optimizer ran on; the raw --no-fusion graph (no pass, no in-place) is
     * only reported: there greedy placement can land above it (mobilenet_v2: 1.12x) */
    if (disabled && !strcmp(disabled, "all"))
        printf("  %-18s --no-fusion arena %lld B, lower bound %lld B (%.3fx)\n", model, (long long)e->arena_bytes,
               (long long)e->plan_lower_bound,
               e->plan_lower_bound ? (double)e->arena_bytes / (double)e->plan_lower_bound : 1.0);
    else
    CHECK(e->arena_bytes <= 1.1 * (double)e->plan_lower_bound + 64,
          "disabled '%s': arena %lld above 1.1x the lower bound %lld", disabled ? disabled : "",
          (long long)e->arena_bytes, (long long)e->plan_lower_bound);
    *n_out = n;
    if (keep) *keep = e;
    else kiln_engine_free(e);
    return y;
}

/* Is concat layer i laid out in place (every input a view at its channel offset of the output)? */
static int concat_in_place(const kiln_engine *e, int i)
{
    const kiln_graph *g = e->g;
    const kiln_node *n = &g->nodes[i];
    const kiln_value *y = &g->values[n->output];
    int64_t yp = e->value_pitch[n->output] ? e->value_pitch[n->output] : y->dims[y->rank - 1], at = 0;
    for (int j = 0; j < n->n_inputs; j++) {
        const kiln_value *x = &g->values[n->inputs[j]];
        int64_t xp = e->value_pitch[n->inputs[j]] ? e->value_pitch[n->inputs[j]] : x->dims[x->rank - 1];
        if (e->value_offset[n->inputs[j]] != e->value_offset[n->output] + 4 * at || xp != yp) return 0;
        at += x->dims[x->rank - 1];
    }
    return 1;
}

static void structure(const kiln_network *net, const kiln_engine *e)
{
    const kiln_graph *g = e->g, *imp = net->g;
    if (!strcmp(model, "googlenet_bn")) {
        CHECK(count_op(g, KILN_OP_BATCHNORM) == 0, "%d BatchNorm left", count_op(g, KILN_OP_BATCHNORM));
        CHECK(count_op(g, KILN_OP_ACTIVATION) == 0, "%d Activation nodes left", count_op(g, KILN_OP_ACTIVATION));
        CHECK(count_op(g, KILN_OP_TRANSPOSE) == 0, "%d transposes", count_op(g, KILN_OP_TRANSPOSE));
        int convs = 0, relu = 0, wide = 0, copies = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const kiln_node *n = &g->nodes[i];
            if (n->op == KILN_OP_CONV2D) {
                convs++;
                /* a pool branch's 1x1 conv runs before its average pool, which applies the relu (swap_avgpool_conv) */
                const int r = kiln_opt_reader(g, n->output);
                relu += n->attrs.act.kind == KILN_ACT_RELU ||
                        (n->attrs.act.kind == KILN_ACT_NONE && r >= 0 && g->nodes[r].op == KILN_OP_AVGPOOL &&
                         g->nodes[r].attrs.act.kind == KILN_ACT_RELU);
                wide += strstr(n->name, " || ") != NULL;
            }
            if (n->op == KILN_OP_CONCAT) copies += !concat_in_place(e, i);
        }
        int modules = count_op(imp, KILN_OP_CONCAT);
        CHECK(convs > 0 && relu == convs, "%d of %d convs fused with their ReLU", relu, convs);
        CHECK(modules == 9 && wide == modules, "%d horizontal convs for %d inception modules", wide, modules);
        CHECK(copies == 0, "%d concat copy kernels", copies);
        printf("  googlenet_bn: %d layers (from %d), %d convs all +relu, %d || convs, %d concats in place\n",
               g->n_nodes, imp->n_nodes, convs, wide, count_op(g, KILN_OP_CONCAT));
    } else if (!strcmp(model, "mobilenet_v2")) {
        int adds = count_op(imp, KILN_OP_ADD), res = 0, relu6 = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const kiln_node *n = &g->nodes[i];
            res += n->op == KILN_OP_CONV2D && n->n_inputs == 4;
            relu6 += n->attrs.act.kind == KILN_ACT_RELU && n->attrs.act.beta == 6.0f;
        }
        CHECK(count_op(g, KILN_OP_ACTIVATION) == 0, "%d Activation nodes left", count_op(g, KILN_OP_ACTIVATION));
        CHECK(count_op(g, KILN_OP_ADD) == 0 && adds > 0 && res == adds, "%d of %d residual adds fused (%d Add left)",
              res, adds, count_op(g, KILN_OP_ADD));
        CHECK(relu6 > 0, "no relu6 epilogue");
        printf("  mobilenet_v2: %d layers (from %d), %d relu6 epilogues, %d of %d residual adds fused\n", g->n_nodes,
               imp->n_nodes, relu6, res, adds);
    } else if (!strcmp(model, "efficientnet_b0")) {
        int muls = count_op(imp, KILN_OP_MUL), se = count_op(g, KILN_OP_SQUEEZE_EXCITE), swish = 0, standalone = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const kiln_node *n = &g->nodes[i];
            swish += n->op != KILN_OP_ACTIVATION && n->attrs.act.kind == KILN_ACT_SWISH;
            standalone += n->op == KILN_OP_ACTIVATION;
        }
        CHECK(standalone == 0, "%d standalone activations left", standalone);
        CHECK(muls > 0 && se == muls && count_op(g, KILN_OP_MUL) == 0, "%d SE blocks fused for %d Multiply", se, muls);
        CHECK(swish > 0, "no swish epilogue");
        printf("  efficientnet_b0: %d layers (from %d), %d swish epilogues, %d of %d SE blocks fused, %d residual\n",
               g->n_nodes, imp->n_nodes, swish, se, muls, count_op(imp, KILN_OP_ADD));
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: opt_corpus CORPUS_DIR NAME|NAME.onnx...\n");
        return 2;
    }
    const int batch = 2;
    for (int a = 2; a < argc; a++) {
        model = argv[a];
        char path[4096], xpath[4096];
        size_t len = strlen(model);
        if (len > 5 && !strcmp(model + len - 5, ".onnx")) {
            /* an ONNX model of tests/onnx/tf2onnx_check.py's folder: its input in kiln's order is <stem>.kiln_x.npy */
            snprintf(path, sizeof path, "%s/%s", argv[1], model);
            snprintf(xpath, sizeof xpath, "%s/%.*s.kiln_x.npy", argv[1], (int)(len - 5), model);
        } else {
            snprintf(path, sizeof path, "%s/%s.h5", argv[1], model);
            snprintf(xpath, sizeof xpath, "%s/%s.x.npy", argv[1], model);
        }
        kiln_network *net = NULL;
        float *x = NULL;
        int rank;
        int64_t dims[KILN_MAX_RANK];
        if (kiln_network_import(path, &net) || kiln_npy_read(xpath, &x, &rank, dims)) {
            fprintf(stderr, "SKIP %s: %s\n", model, kiln_last_error());
            kiln_network_free(net);
            if (a == 2 && argc == 3) return 77;
            continue;
        }
        if (dims[0] < batch) {
            fprintf(stderr, "SKIP %s: input batch %lld\n", model, (long long)dims[0]);
            continue;
        }
        int64_t n_ref, n;
        float *ref = run_variant(net, "all", x, batch, &n_ref, NULL);
        kiln_engine *e = NULL;
        float *y = run_variant(net, NULL, x, batch, &n, &e);
        if (!ref || !y || n != n_ref) {
            CHECK(0, "variants failed to run");
        } else {
            float scale = 0;
            for (int64_t i = 0; i < n; i++) scale = fabsf(ref[i]) > scale ? fabsf(ref[i]) : scale;
            float tol = 1e-5f * (scale > 1 ? scale : 1), worst = 0;
            const char *worst_what = "all passes";
            for (int k = -1; k < kiln_opt_num_passes(); k++) {
                float *yk = k < 0 ? y : run_variant(net, kiln_opt_pass(k)->name, x, batch, &n, NULL);
                if (!yk) continue;
                float d = 0;
                for (int64_t i = 0; i < n; i++) d = fabsf(yk[i] - ref[i]) > d ? fabsf(yk[i] - ref[i]) : d;
                CHECK(d <= tol, "%s%s: max |y - y_no_fusion| = %g > %g", k < 0 ? "all passes" : "without ",
                      k < 0 ? "" : kiln_opt_pass(k)->name, d, tol);
                if (d > worst) worst = d, worst_what = k < 0 ? "all passes" : kiln_opt_pass(k)->name;
                if (k >= 0) free(yk);
            }
            printf("%-20s layers %4d -> %4d  arena %9lld B  lower bound %9lld B (%.3fx)  max|d| vs no-fusion %.2e "
                   "(%s)\n",
                   model, net->g->n_nodes, e->g->n_nodes, (long long)e->arena_bytes, (long long)e->plan_lower_bound,
                   e->plan_lower_bound ? (double)e->arena_bytes / (double)e->plan_lower_bound : 1.0, worst,
                   worst_what);
            structure(net, e);
        }
        fflush(stdout);
        kiln_engine_free(e);
        free(ref);
        free(y);
        free(x);
        kiln_network_free(net);
    }
    if (failures) fprintf(stderr, "opt_corpus: %d check(s) failed\n", failures);
    else printf("opt_corpus: all checks passed\n");
    return failures ? 1 : 0;
}
