/* Every optimized CPU kernel (src/cpu/tactics.c: each tactic of each ISA this CPU runs) against its reference kernel
 * over a matrix of shapes, strides, paddings, dilations, groups, channel counts not divisible by any vector width,
 * batches, activations, residual inputs, planner pitches and thread counts (1, 2, 3).
 *
 * Tolerance: |y - ref| <= 1e-5 * (sum over the reduction of |x*w|) + 1e-6 for convolutions and dense layers (the
 * kernels use FMA, the reference separate multiply and add: a few ulps per term of long reductions), and 2e-6 relative
 * for pools and elementwise ops (same operations, same order). KILN_ISA=avx2 / scalar limits what is tested. */
#include "test_engine_util.h"

#include "cpu/conv_amx.h"
#include "cpu/cpu_features.h"
#include "cpu/tactics.h"
#include "runtime/threadpool.h"

static kiln_threadpool *pools[4];
static int cases_run, tactic_runs;

static float *rand_buf(int64_t n)
{
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    t_fill(p, n, -1.0f, 1.0f);
    return p;
}

/* Run tactic t of node `ni` (last node of g) with the given inputs; compare with the reference output `ref`. */
static void check_tactic(const kiln_graph *g, const kiln_node *n, int t, const float **in, int batch,
                         const float *ref, const float *bound, int64_t out_floats, float rtol, int64_t in_pitch,
                         int64_t out_pitch, const char *what)
{
    for (int th = 1; th <= 3; th++) {
        kiln_kernel_args a;
        memset(&a, 0, sizeof a);
        a.g = g, a.node = n, a.batch = batch;
        for (int j = 0; j < n->n_inputs; j++) a.in[j] = in[j];
        a.in_pitch[0] = in_pitch, a.out_pitch = out_pitch;
        float *out = malloc(sizeof(float) * (size_t)out_floats);
        for (int64_t i = 0; i < out_floats; i++) out[i] = 12345.0f; /* untouched pitch gaps keep it */
        a.out = out;
        const size_t pb = kiln_cpu_tactic_packed_bytes(g, n, t), wb = kiln_cpu_tactic_workspace(g, n, t, batch);
        void *packed = pb ? aligned_alloc(64, (pb + 63) / 64 * 64) : NULL;
        void *ws = wb ? aligned_alloc(64, (wb + 63) / 64 * 64) : NULL;
        if (pb) kiln_cpu_tactic_pack(g, n, t, packed);
        a.workspace = ws;
        kiln_cpu_tactic_run(t, &a, packed, pools[th]);
        tactic_runs++;
        int bad = 0;
        for (int64_t i = 0; i < out_floats && bad < 3; i++) {
            const float tol = bound ? 1e-5f * bound[i] + 1e-6f : rtol * (fabsf(ref[i]) + 1e-6f);
            if (!(fabsf(out[i] - ref[i]) <= tol)) {
                CHECK(0, "%s: tactic %s, %d threads: y[%lld] = %.8g, reference %.8g", what,
                      kiln_cpu_tactic_name((kiln_op)n->op, t), th, (long long)i, out[i], ref[i]);
                bad++;
            }
        }
        free(out);
        free(packed);
        free(ws);
    }
}

/* Build the inputs of the graph's last node, run the reference and every usable optimized tactic. */
static void check_node(const kiln_graph *g, int batch, const float *bound_or_null, float rtol, int64_t in_pitch,
                       int64_t out_pitch, const char *what)
{
    const kiln_node *n = &g->nodes[g->n_nodes - 1];
    const float *in[KILN_MAX_NODE_INPUTS];
    float *owned[KILN_MAX_NODE_INPUTS] = { 0 };
    for (int j = 0; j < n->n_inputs; j++) {
        const kiln_value *v = &g->values[n->inputs[j]];
        if (v->kind == KILN_VALUE_CONSTANT) {
            in[j] = v->data;
        } else {
            int64_t cnt = kiln_value_numel(v) * batch;
            if (j == 0 && in_pitch) cnt = cnt / v->dims[v->rank - 1] * in_pitch;
            in[j] = owned[j] = rand_buf(cnt);
        }
    }
    const kiln_value *yv = &g->values[n->output];
    int64_t out_floats = kiln_value_numel(yv) * batch;
    if (out_pitch) out_floats = out_floats / yv->dims[yv->rank - 1] * out_pitch;
    float *ref = malloc(sizeof(float) * (size_t)out_floats);
    for (int64_t i = 0; i < out_floats; i++) ref[i] = 12345.0f;
    kiln_kernel_args a;
    memset(&a, 0, sizeof a);
    a.g = g, a.node = n, a.batch = batch, a.out = ref;
    for (int j = 0; j < n->n_inputs; j++) a.in[j] = in[j];
    a.in_pitch[0] = in_pitch, a.out_pitch = out_pitch;
    const size_t ref_ws = kiln_ref_workspace_bytes(g, n, batch);
    a.workspace = ref_ws ? malloc(ref_ws) : NULL; /* squeeze-excite keeps its intermediates there */
    kiln_ref_kernel((kiln_op)n->op)(&a);
    /* Error bound of a reduction: the same kernel on |x| and |w| (bias, residual too) gives sum |terms|. */
    float *bound = NULL;
    if (bound_or_null) {
        const float *ain[KILN_MAX_NODE_INPUTS];
        float *abs_owned[KILN_MAX_NODE_INPUTS] = { 0 };
        for (int j = 0; j < n->n_inputs; j++) {
            const kiln_value *v = &g->values[n->inputs[j]];
            int64_t cnt = v->kind == KILN_VALUE_CONSTANT ? kiln_value_numel(v) : kiln_value_numel(v) * batch;
            if (j == 0 && in_pitch) cnt = cnt / v->dims[v->rank - 1] * in_pitch;
            abs_owned[j] = malloc(sizeof(float) * (size_t)cnt);
            for (int64_t i = 0; i < cnt; i++) abs_owned[j][i] = fabsf(in[j][i]);
            ain[j] = abs_owned[j];
        }
        kiln_node nn = *n;
        nn.attrs.act = kiln_act_make(KILN_ACT_NONE, 0, INFINITY, 0);
        bound = malloc(sizeof(float) * (size_t)out_floats);
        for (int64_t i = 0; i < out_floats; i++) bound[i] = 0.0f;
        a.node = &nn, a.out = bound;
        for (int j = 0; j < n->n_inputs; j++) a.in[j] = ain[j];
        kiln_ref_kernel((kiln_op)n->op)(&a);
        for (int64_t i = 0; i < out_floats; i++) bound[i] = fabsf(bound[i]) + fabsf(ref[i]);
        for (int j = 0; j < n->n_inputs; j++) free(abs_owned[j]);
    }
    int cnt, tried = 0;
    kiln_cpu_tactics((kiln_op)n->op, &cnt);
    for (int t = 1; t < cnt; t++) {
        if (!kiln_cpu_tactic_usable(g, n, t)) continue;
        check_tactic(g, n, t, in, batch, ref, bound, out_floats, rtol, in_pitch, out_pitch, what);
        tried++;
    }
    cases_run++;
    CHECK(tried > 0, "%s: no optimized tactic supports it", what);
    free(a.workspace);
    free(ref);
    free(bound);
    for (int j = 0; j < n->n_inputs; j++) free(owned[j]);
}

static kiln_act act_of(int k)
{
    switch (k) {
    case 1: return kiln_act_relu();
    case 2: return kiln_act_make(KILN_ACT_RELU, 0.0f, 6.0f, 0.0f);
    case 3: return kiln_act_make(KILN_ACT_SWISH, 0, 0, 0);
    case 4: return kiln_act_make(KILN_ACT_RELU, 0.1f, INFINITY, 0.0f); /* leaky */
    default: return kiln_act_make(KILN_ACT_NONE, 0, INFINITY, 0);
    }
}

typedef struct {
    int H, W, Cin, Cout, K, S, D, P, groups, act, bias, residual, batch;
    int in_pitch_extra, out_pitch_extra;
} conv_case;

static void conv_test(const conv_case *c)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, c->H, c->W, c->Cin };
    int x = kiln_graph_add_input(g, "x", 4, xd);
    int64_t wd[4] = { c->K, c->K, c->Cin / c->groups, c->Cout }, bd[1] = { c->Cout };
    int ins[4] = { x, t_const(g, "w", 4, wd, -1, 1), -1, -1 }, nin = 2;
    if (c->bias || c->residual) ins[nin++] = t_const(g, "b", 1, bd, -1, 1);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.kernel[0] = at.kernel[1] = c->K;
    at.stride[0] = at.stride[1] = c->S;
    at.dilation[0] = at.dilation[1] = c->D;
    at.pads[0] = at.pads[1] = c->P;
    at.pads[2] = at.pads[3] = c->P ? c->P - (c->S > 1) : 0; /* asymmetric when strided */
    at.groups = c->groups;
    at.act = act_of(c->act);
    if (c->residual) {
        const int64_t OH = (c->H + at.pads[0] + at.pads[2] - c->D * (c->K - 1) - 1) / c->S + 1;
        const int64_t OW = (c->W + at.pads[1] + at.pads[3] - c->D * (c->K - 1) - 1) / c->S + 1;
        int64_t rd[4] = { 1, OH, OW, c->Cout };
        ins[nin++] = kiln_graph_add_input(g, "r", 4, rd);
    }
    int y = kiln_graph_add_node(g, KILN_OP_CONV2D, "conv", ins, nin, &at);
    char what[200];
    snprintf(what, sizeof what, "conv H%d W%d Cin%d Cout%d K%d S%d D%d P%d G%d act%d bias%d res%d N%d pitch+%d/+%d",
             c->H, c->W, c->Cin, c->Cout, c->K, c->S, c->D, c->P, c->groups, c->act, c->bias, c->residual, c->batch,
             c->in_pitch_extra, c->out_pitch_extra);
    CHECK(y >= 0, "%s: graph: %s", what, kiln_last_error());
    float one = 1.0f;
    if (y >= 0)
        check_node(g, c->batch, &one, 0, c->in_pitch_extra ? c->Cin + c->in_pitch_extra : 0,
                   c->out_pitch_extra ? c->Cout + c->out_pitch_extra : 0, what);
    kiln_graph_free(g);
}

static void dense_test(int rows_rank4, int Cin, int Cout, int batch, int act)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd4[4] = { 1, 2, 3, Cin }, xd2[2] = { 1, Cin };
    int x = rows_rank4 ? kiln_graph_add_input(g, "x", 4, xd4) : kiln_graph_add_input(g, "x", 2, xd2);
    int64_t wd[2] = { Cin, Cout }, bd[1] = { Cout };
    int ins[3] = { x, t_const(g, "w", 2, wd, -1, 1), t_const(g, "b", 1, bd, -1, 1) };
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.act = act_of(act);
    int y = kiln_graph_add_node(g, KILN_OP_DENSE, "dense", ins, 3, &at);
    char what[120];
    snprintf(what, sizeof what, "dense rank%d Cin%d Cout%d N%d act%d", rows_rank4 ? 4 : 2, Cin, Cout, batch, act);
    CHECK(y >= 0, "%s: graph", what);
    float one = 1.0f;
    if (y >= 0) check_node(g, batch, &one, 0, 0, 0, what);
    kiln_graph_free(g);
}

static void pool_test(kiln_op op, int H, int W, int C, int K, int S, int P, int incl, int batch, int pitch_extra)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, H, W, C };
    int x = kiln_graph_add_input(g, "x", 4, xd);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.kernel[0] = at.kernel[1] = K;
    at.stride[0] = at.stride[1] = S;
    at.pads[0] = at.pads[1] = P;
    at.pads[2] = at.pads[3] = P;
    at.count_include_pad = incl;
    at.keepdims = 1;
    int y = kiln_graph_add_node(g, op, "pool", &x, 1, &at);
    char what[140];
    snprintf(what, sizeof what, "%s H%d W%d C%d K%d S%d P%d incl%d N%d pitch+%d", kiln_op_name(op), H, W, C, K, S, P,
             incl, batch, pitch_extra);
    CHECK(y >= 0, "%s: graph: %s", what, kiln_last_error());
    const int global = op == KILN_OP_GLOBAL_AVGPOOL || op == KILN_OP_GLOBAL_MAXPOOL;
    if (y >= 0)
        check_node(g, batch, NULL, 2e-6f, pitch_extra ? C + pitch_extra : 0, pitch_extra && !global ? C + pitch_extra : 0,
                   what);
    kiln_graph_free(g);
}

/* form 0: equal shapes; 1: constant [C]; 2: constant [1,1,1,C]; 3: activation [N,1,1,C] (per sample). swap: b first */
static void binary_test(kiln_op op, int form, int swap, int C, int batch, int act)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, 5, 3, C }, cd1[1] = { C }, cd4[4] = { 1, 1, 1, C };
    int x = kiln_graph_add_input(g, "x", 4, xd), b;
    if (form == 0) b = kiln_graph_add_input(g, "b", 4, xd);
    else if (form == 1) b = t_const(g, "b", 1, cd1, 0.5f, 2.0f);
    else if (form == 2) b = t_const(g, "b", 4, cd4, 0.5f, 2.0f);
    else b = kiln_graph_add_input(g, "b", 4, cd4);
    int ins[2] = { swap ? b : x, swap ? x : b };
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.act = act_of(act);
    int y = kiln_graph_add_node(g, op, "bin", ins, 2, &at);
    char what[120];
    snprintf(what, sizeof what, "%s form%d swap%d C%d N%d act%d", kiln_op_name(op), form, swap, C, batch, act);
    CHECK(y >= 0, "%s: graph: %s", what, kiln_last_error());
    if (y >= 0) check_node(g, batch, NULL, 2e-6f, 0, 0, what);
    kiln_graph_free(g);
}

/* Fused squeeze-excite [N,H,W,C] with W1 [C,Cr], W2 [Cr,C]; act on the reduce layer, act2 on the expand layer. */
static void se_test(int H, int W, int C, int Cr, int batch, int act, int conv_weights)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, H, W, C }, b1d[1] = { Cr }, b2d[1] = { C };
    int64_t w1d[4] = { 1, 1, C, Cr }, w2d[4] = { 1, 1, Cr, C }; /* 1x1 conv weights, or Dense [C,Cr] / [Cr,C] */
    const int wr = conv_weights ? 4 : 2;
    int x = kiln_graph_add_input(g, "x", 4, xd);
    int ins[5] = { x, t_const(g, "w1", wr, w1d + 4 - wr, -1, 1), t_const(g, "b1", 1, b1d, -1, 1),
                   t_const(g, "w2", wr, w2d + 4 - wr, -1, 1), t_const(g, "b2", 1, b2d, -1, 1) };
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.act = act_of(act);
    at.act2 = kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0);
    int y = kiln_graph_add_node(g, KILN_OP_SQUEEZE_EXCITE, "se", ins, 5, &at);
    char what[120];
    snprintf(what, sizeof what, "squeeze_excite H%d W%d C%d Cr%d N%d act%d convw%d", H, W, C, Cr, batch, act,
             conv_weights);
    CHECK(y >= 0, "%s: graph: %s", what, kiln_last_error());
    /* FMA in the dense layers vs the reference's multiply-add: a few ulps through the sigmoid */
    if (y >= 0) check_node(g, batch, NULL, 2e-5f, 0, 0, what);
    kiln_graph_free(g);
}

/* The vector exp behind sigmoid / swish (simd_kernels.inc v_exp): swish through a 1x1 conv with one input channel
 * of weight 1 and bias 0 is swish(x) itself, compared elementwise with act.h (expf) over [-90, 90]: relative error
 * <= 1e-6 where the result is not tiny (absolute 1e-30 below). */
static void exp_test(void)
{
    const int n = 4001;
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, 1, n, 1 }, wd[4] = { 1, 1, 1, 1 }, bd[1] = { 1 };
    int x = kiln_graph_add_input(g, "x", 4, xd);
    int ins[3] = { x, t_const(g, "w", 4, wd, 1, 1), t_const(g, "b", 1, bd, 0, 0) };
    for (int kind = 0; kind < 2; kind++) {
        kiln_attrs at;
        kiln_attrs_init(&at);
        at.act = kiln_act_make(kind ? KILN_ACT_SIGMOID : KILN_ACT_SWISH, 0, 0, 0);
        int y = kiln_graph_add_node(g, KILN_OP_CONV2D, kind ? "sig" : "swish", ins, 3, &at);
        CHECK(y >= 0, "exp test graph: %s", kiln_last_error());
        if (y < 0) break;
        const kiln_node *nd = &g->nodes[g->n_nodes - 1];
        float *in = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
        for (int i = 0; i < n; i++) in[i] = -90.0f + 180.0f * (float)i / (float)(n - 1);
        int cnt;
        kiln_cpu_tactics(KILN_OP_CONV2D, &cnt);
        for (int t = 1; t < cnt; t++) {
            if (!kiln_cpu_tactic_usable(g, nd, t)) continue;
            const size_t pb = kiln_cpu_tactic_packed_bytes(g, nd, t);
            float *pk = pb ? aligned_alloc(64, (pb + 63) / 64 * 64) : NULL;
            if (pk) kiln_cpu_tactic_pack(g, nd, t, pk);
            float *ws = aligned_alloc(64, (kiln_cpu_tactic_workspace(g, nd, t, 1) + 127) / 64 * 64);
            kiln_kernel_args a;
            memset(&a, 0, sizeof a);
            a.g = g, a.node = nd, a.batch = 1, a.out = out, a.in[0] = in, a.in[1] = g->values[nd->inputs[1]].data;
            a.in[2] = g->values[nd->inputs[2]].data, a.workspace = ws;
            kiln_cpu_tactic_run(t, &a, pk, pools[1]);
            int bad = 0;
            for (int i = 0; i < n && !bad; i++) {
                const float ref = kiln_act_apply(&at.act, in[i]);
                if (!(fabsf(out[i] - ref) <= 1e-6f * fabsf(ref) + 1e-30f)) {
                    CHECK(0, "%s %s: x=%g got %.9g want %.9g", kind ? "sigmoid" : "swish",
                          kiln_cpu_tactic_name(KILN_OP_CONV2D, t), in[i], out[i], ref);
                    bad = 1;
                }
            }
            tactic_runs++;
            free(pk);
            free(ws);
        }
        free(in);
        free(out);
    }
    cases_run++;
    kiln_graph_free(g);
}

/* Float32 accuracy against a float64 convolution (no bias, no activation): for every usable gemm / AMX / Winograd
 * tactic, the largest |y - y64| / sum|x*w| over the outputs (relu_input: inputs >= 0, as after a ReLU). The AMX tactic (three bfloat16 parts a float, six products: see
 * src/cpu/conv_amx.h) must stay within 2e-7 (it measures 8.7-9.8e-8 here, the gemm 3.3-6.5e-8: float32 summation);
 * leaving out its smallest product (x0 w2) gives 2.7-9.2e-7 and fails this check, which the 1e-5 bound above would
 * not see. */
static void accuracy_test(int H, int W, int Cin, int Cout, int K, int relu_input)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, H, W, Cin }, wd[4] = { K, K, Cin, Cout };
    int x = kiln_graph_add_input(g, "x", 4, xd);
    int ins[2] = { x, t_const(g, "w", 4, wd, -1, 1) };
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.kernel[0] = at.kernel[1] = K;
    at.pads[0] = at.pads[1] = at.pads[2] = at.pads[3] = K / 2;
    at.act = kiln_act_make(KILN_ACT_NONE, 0, INFINITY, 0);
    const int y = kiln_graph_add_node(g, KILN_OP_CONV2D, "conv", ins, 2, &at);
    CHECK(y >= 0, "accuracy graph: %s", kiln_last_error());
    if (y < 0) {
        kiln_graph_free(g);
        return;
    }
    const kiln_node *n = &g->nodes[g->n_nodes - 1];
    const float *w = g->values[n->inputs[1]].data;
    float *in = rand_buf((int64_t)H * W * Cin), *out = malloc(sizeof(float) * (size_t)(H * W * Cout));
    for (int64_t i = 0; relu_input && i < (int64_t)H * W * Cin; i++) in[i] = in[i] > 0 ? in[i] : 0;
    double *y64 = calloc((size_t)(H * W * Cout), sizeof(double)), *mag = calloc((size_t)(H * W * Cout), sizeof(double));
    for (int oy = 0; oy < H; oy++)
        for (int ox = 0; ox < W; ox++)
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                    const int iy = oy + kh - K / 2, ix = ox + kw - K / 2;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    for (int ci = 0; ci < Cin; ci++) {
                        const double xv = in[((int64_t)iy * W + ix) * Cin + ci];
                        const float *wr = w + ((int64_t)(kh * K + kw) * Cin + ci) * Cout;
                        double *yr = y64 + ((int64_t)oy * W + ox) * Cout, *mr = mag + ((int64_t)oy * W + ox) * Cout;
                        for (int co = 0; co < Cout; co++) yr[co] += xv * wr[co], mr[co] += fabs(xv * wr[co]);
                    }
                }
    int cnt;
    const kiln_cpu_tactic *list = kiln_cpu_tactics(KILN_OP_CONV2D, &cnt);
    for (int t = 1; t < cnt; t++) {
        if (!kiln_cpu_tactic_usable(g, n, t) ||
            !(strstr(list[t].name, "avx512") || strstr(list[t].name, "amx") || strstr(list[t].name, "winograd")))
            continue;
        if (strstr(list[t].name, "dw")) continue;
        kiln_kernel_args a;
        memset(&a, 0, sizeof a);
        a.g = g, a.node = n, a.batch = 1, a.in[0] = in, a.in[1] = w, a.out = out;
        const size_t pb = kiln_cpu_tactic_packed_bytes(g, n, t), wb = kiln_cpu_tactic_workspace(g, n, t, 1);
        void *packed = pb ? aligned_alloc(64, (pb + 63) / 64 * 64) : NULL;
        a.workspace = wb ? aligned_alloc(64, (wb + 63) / 64 * 64) : NULL;
        if (pb) kiln_cpu_tactic_pack(g, n, t, packed);
        kiln_cpu_tactic_run(t, &a, packed, pools[2]);
        double worst = 0;
        for (int64_t i = 0; i < (int64_t)H * W * Cout; i++) {
            const double e = fabs(out[i] - y64[i]) / (mag[i] + 1e-30);
            if (e > worst) worst = e;
        }
        printf("accuracy %dx%d %d->%d %dx%d%s %-24s max |y - y64| / sum|x*w| = %.2e\n", H, W, Cin, Cout, K, K,
               relu_input ? " x>=0" : "", list[t].name, worst);
        if (strstr(list[t].name, "amx")) CHECK(worst <= 2e-7, "%s: float32 accuracy %.2e > 2e-7", list[t].name, worst);
        /* Winograd (post-ReLU inputs, 28x28x128 / 56x56x64): F(2x2) 0.8-1.5e-7; F(4x4) 5.0-5.8e-7 with its points 0,
         * 1, -1, 1/2, -2 and K blocks of 32, 1.2-1.3e-6 in one chain, 2.0-2.9e-6 on Lavin's 0, +-1, +-2 */
        if (strstr(list[t].name, "winograd_f2_")) CHECK(worst <= 3e-7, "%s: float32 accuracy %.2e > 3e-7", list[t].name, worst);
        if (strstr(list[t].name, "winograd_f4")) CHECK(worst <= 9e-7, "%s: float32 accuracy %.2e > 9e-7", list[t].name, worst);
        /* F(2x2, 5x5), 28x28x32 -> 96: the same points and K blocks as F(4x4); measured 5.0e-7 */
        if (strstr(list[t].name, "winograd_f2k5")) CHECK(worst <= 9e-7, "%s: float32 accuracy %.2e > 9e-7", list[t].name, worst);
        tactic_runs++;
        free(packed);
        free(a.workspace);
    }
    free(in);
    free(out);
    free(y64);
    free(mag);
    kiln_graph_free(g);
}

int main(void)
{
    for (int i = 1; i <= 3; i++) pools[i] = kiln_threadpool_create(i);
    printf("CPU level %s (detected %s) %s\n", kiln_isa_name(kiln_cpu_isa()), kiln_isa_name(kiln_cpu_isa_detected()),
           kiln_cpu_isa_note());
    printf("AMX tiles: %s\n", kiln_cpu_has_amx() ? "yes (conv_amx_bf16x6 tested)" : "no (conv_amx_bf16x6 not tested here)");
    /* cache sizes (cpu_features.h): plausible, and KILN_L2_BYTES (ctest unit.*_small_l2 sets 256K) obeyed */
    printf("caches: L1d %ld KiB, L2 %ld KiB\n", kiln_cpu_l1d_bytes() / 1024, kiln_cpu_l2_bytes() / 1024);
    CHECK(kiln_cpu_l1d_bytes() >= 8 * 1024 && kiln_cpu_l1d_bytes() <= 1024 * 1024, "L1d %ld bytes", kiln_cpu_l1d_bytes());
    CHECK(kiln_cpu_l2_bytes() >= 64 * 1024 && kiln_cpu_l2_bytes() <= 256L * 1024 * 1024, "L2 %ld bytes", kiln_cpu_l2_bytes());
    if (getenv("KILN_L2_BYTES") && !strcmp(getenv("KILN_L2_BYTES"), "256K"))
        CHECK(kiln_cpu_l2_bytes() == 256 * 1024, "KILN_L2_BYTES=256K gave L2 %ld bytes", kiln_cpu_l2_bytes());

    /* Convolutions: 1x1 (GEMM), 3x3 / 5x5 / 7x7, strides, dilation, asymmetric pads, groups, depthwise. Channel counts
     * 1, 3, 5, 13, 17, 33, 37, 70 are not multiples of 4, 8 or 16. */
    const conv_case convs[] = {
        { 7, 6, 16, 32, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0 },
        { 5, 5, 13, 37, 1, 1, 1, 0, 1, 1, 1, 0, 2, 0, 0 },
        { 9, 7, 33, 70, 1, 2, 1, 0, 1, 2, 1, 0, 1, 0, 0 },
        { 8, 8, 3, 17, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0 },
        { 11, 9, 17, 40, 3, 2, 1, 1, 1, 0, 0, 0, 3, 0, 0 },
        { 10, 10, 8, 33, 3, 1, 2, 2, 1, 3, 1, 0, 1, 0, 0 },
        { 12, 12, 3, 16, 7, 2, 1, 3, 1, 1, 1, 0, 1, 0, 0 },
        { 9, 9, 5, 9, 5, 1, 1, 2, 1, 4, 1, 0, 2, 0, 0 },
        { 6, 7, 12, 18, 3, 1, 1, 1, 3, 1, 1, 0, 1, 0, 0 },   /* grouped */
        { 6, 6, 24, 24, 1, 1, 1, 0, 4, 0, 1, 0, 1, 0, 0 },   /* grouped 1x1 */
        { 8, 8, 20, 20, 3, 1, 1, 1, 1, 1, 1, 1, 2, 0, 0 },   /* residual */
        { 7, 7, 16, 48, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0 },   /* residual 1x1 */
        { 7, 5, 16, 24, 1, 1, 1, 0, 1, 1, 1, 0, 1, 8, 8 },   /* planner pitches */
        { 9, 9, 16, 16, 3, 1, 1, 1, 16, 1, 1, 0, 1, 0, 0 },  /* depthwise */
        { 10, 11, 37, 37, 3, 2, 1, 1, 37, 2, 1, 0, 2, 0, 0 },
        { 12, 12, 24, 24, 5, 1, 1, 2, 24, 3, 1, 0, 1, 0, 0 },
        { 9, 9, 19, 19, 3, 1, 2, 2, 19, 0, 0, 0, 1, 0, 0 },
        { 8, 8, 32, 32, 3, 1, 1, 1, 32, 1, 1, 1, 1, 0, 0 },  /* depthwise + residual */
        { 7, 7, 21, 21, 3, 1, 1, 1, 21, 1, 1, 0, 1, 3, 5 },  /* depthwise with pitches */
        { 4, 4, 40, 80, 3, 1, 1, 1, 40, 1, 1, 0, 1, 0, 0 },  /* depth multiplier 2: gemm only */
        { 1, 1, 64, 100, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0 },
        { 3, 3, 300, 20, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0 },  /* long reduction */
        /* gemm blocking (gemm_variant.inc): K blocks (Cin > 192), several taps per K block (Cin 40), several tile
         * groups (input > 1 MiB), uniform 14-row tiles (14-wide rows) and ones that wrap rows or hit padding */
        { 20, 20, 500, 70, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0 },
        { 14, 14, 40, 48, 3, 1, 1, 1, 1, 3, 1, 0, 2, 0, 0 },
        { 7, 7, 200, 64, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 },
        { 66, 66, 72, 33, 3, 1, 1, 1, 1, 2, 1, 0, 1, 0, 0 },
        { 28, 28, 100, 40, 3, 1, 1, 1, 4, 1, 1, 0, 1, 3, 4 }, /* grouped, K blocks per group, pitches */
        { 28, 28, 64, 96, 1, 2, 1, 0, 1, 3, 1, 0, 1, 0, 0 },  /* strided 1x1: rows not uniform across tiles */
        { 14, 14, 16, 32, 1, 1, 1, 0, 1, 3, 1, 0, 1, 0, 0 },  /* swish epilogue (vector exp) */
        { 10, 10, 8, 20, 3, 1, 1, 1, 1, 3, 1, 0, 1, 0, 0 },
        /* whole 14x32 tiles in registers (AVX-512 UNIFORM_TILE): 17..31 channels in the last block (masked), K
         * blocks (partial sums), residual, relu6 / swish / leaky (applied after the store), pitches */
        { 14, 14, 24, 24, 1, 1, 1, 0, 1, 2, 1, 1, 1, 0, 0 },
        { 7, 14, 400, 40, 1, 1, 1, 0, 1, 4, 1, 1, 1, 0, 0 },
        { 14, 7, 16, 57, 1, 1, 1, 0, 1, 3, 1, 0, 2, 0, 0 },
        { 14, 14, 48, 30, 1, 1, 1, 0, 1, 1, 1, 0, 1, 2, 6 },
        { 28, 14, 420, 17, 1, 1, 1, 0, 1, 2, 0, 1, 1, 0, 0 },
        /* whole 16x16 tiles in registers (the one-vector-wide AVX-512 gemm's UNIFORM_TILE, <= 16 output channels):
         * all 16 and fewer (masked) channels, K blocks (Cin 400 > its 384-channel block), residual, relu6 / swish,
         * pitches, batch 2, a padded 3x3 (the zero-bordered copy), a partial last tile (the C loop) */
        { 16, 16, 32, 16, 1, 1, 1, 0, 1, 2, 1, 1, 1, 0, 0 },
        { 8, 14, 400, 10, 1, 1, 1, 0, 1, 1, 1, 1, 2, 0, 0 },
        { 14, 16, 24, 13, 1, 1, 1, 0, 1, 3, 1, 0, 1, 5, 3 },
        { 16, 16, 20, 12, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0 },
        { 9, 10, 32, 16, 1, 1, 1, 0, 1, 4, 0, 1, 1, 0, 0 },
        /* partial tiles of 1x1 convs in the register tiles (pixel counts 17 x 2 = 34: last tiles of 6 / 2 rows,
         * halves reaching back into the previous tile; 5 x 5 = 25: 11 rows), K blocks, residual, pitches */
        { 17, 1, 400, 24, 1, 1, 1, 0, 1, 1, 1, 1, 2, 0, 0 },
        { 5, 5, 40, 12, 1, 1, 1, 0, 1, 3, 1, 1, 1, 3, 2 },
        { 5, 5, 24, 30, 1, 1, 1, 0, 1, 2, 1, 0, 1, 0, 4 },
        /* 7-row tiles (7x48, 7x64: 7x7 output maps): K blocks, residual, a partial last panel (70, 100), batch 3,
         * a padded 3x3, a strided 1x1 from 14x14, swish / relu6, pitches */
        { 7, 7, 400, 70, 1, 1, 1, 0, 1, 1, 1, 1, 3, 0, 0 },
        { 7, 7, 64, 100, 3, 1, 1, 1, 1, 3, 1, 0, 1, 0, 0 },
        { 14, 14, 48, 96, 1, 2, 1, 0, 1, 2, 1, 1, 2, 0, 0 },
        { 7, 7, 32, 64, 1, 1, 1, 0, 1, 4, 0, 0, 1, 3, 5 },
        /* direct small-Cin kernels (conv_direct.inc): stems with odd sizes, asymmetric pads, Cout not a multiple of
         * the 2-vector block, Cin 1..4, dilation, residual, a scalar activation, pitches; widths over several tiles */
        { 15, 31, 3, 32, 3, 2, 1, 1, 1, 2, 1, 0, 1, 0, 0 },
        { 13, 11, 1, 40, 3, 1, 1, 1, 1, 3, 1, 1, 2, 0, 0 },
        { 20, 23, 4, 24, 5, 2, 2, 2, 1, 1, 0, 0, 1, 0, 0 },
        { 9, 30, 2, 70, 3, 1, 1, 1, 1, 4, 1, 0, 1, 3, 5 },
        { 5, 29, 3, 7, 1, 1, 1, 0, 1, 0, 1, 0, 3, 0, 0 },
        { 3, 2, 3, 16, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0 },  /* no interior column */
        /* interior runs of 14 pixels on the AVX-512 14x32 asm tile (DIRECT_WIDE_TILE): 7x7/2 with swish, residual and
         * batch 2; 3x3/1 with an output pitch (two runs a row) */
        { 16, 40, 3, 64, 7, 2, 1, 3, 1, 3, 1, 1, 2, 0, 0 },
        { 14, 33, 3, 32, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 2 },
        /* depthwise row sweep (dw_rows.inc): 5x5 stride 2, rows wider than a tile, residual */
        { 17, 23, 40, 40, 5, 2, 1, 2, 40, 3, 1, 0, 1, 0, 0 },
        { 6, 29, 35, 35, 3, 1, 1, 1, 35, 2, 1, 1, 2, 0, 0 },
        /* zero-column tiles of 7 pixels (AVX-512 DWR_ZP: widths a multiple of 7, whole channel vectors), blocks of 8
         * rows: 3x3 / 5x5 at stride 1 / 2, asymmetric and 'valid' padding, a partial channel vector beside a whole
         * one, residual, relu6 / swish / leaky, pitches, batch 2 */
        { 14, 14, 32, 32, 3, 1, 1, 1, 32, 2, 1, 1, 1, 0, 0 },
        { 28, 28, 48, 48, 3, 2, 1, 1, 48, 1, 1, 0, 2, 0, 0 },
        { 19, 21, 20, 20, 5, 1, 1, 2, 20, 3, 1, 0, 1, 0, 0 },
        { 14, 28, 64, 64, 5, 2, 1, 2, 64, 4, 1, 1, 1, 0, 0 },
        { 9, 16, 16, 16, 3, 1, 1, 0, 16, 1, 1, 0, 1, 3, 5 },
        /* depthwise row sweep with rows that do not divide among the threads: channel vectors split instead (a
         * scalar-path activation applied to each thread's channels only) */
        { 7, 7, 72, 72, 3, 1, 1, 1, 72, 4, 1, 1, 1, 0, 0 },
        { 10, 10, 40, 40, 5, 2, 1, 2, 40, 3, 1, 0, 2, 0, 0 },
        /* Winograd F(4x4) (Cin >= 64) / F(2x2) (3x3 stride 1, output >= 7x7; src/cpu/winograd.h): output sizes of
         * every residue mod 4 (partial tiles at the bottom/right), 'same', 'valid' and pad-2 padding, several tile
         * blocks (56x56x64), the output-channel split (few tiles, large weights: 10x9x200), pitches, batches, relu /
         * relu6 / leaky / swish epilogues with and without residual. Tolerance: the same 1e-5 * sum|x*w| + 1e-6 as
         * above: the worst F(4x4) error measured against a float64 convolution on ResNet-like layers is ~1.2e-6 *
         * sum|x*w| (F(2x2) ~1.4e-7, the direct gemm ~2.5e-7), so the bound has ~8x margin; a 1e-5 relative change of
         * one output-transform coefficient fails every F(4x4) case. */
        { 9, 11, 20, 24, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 },
        { 13, 13, 17, 33, 3, 1, 1, 1, 1, 1, 1, 0, 2, 0, 0 },
        { 14, 14, 64, 64, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 },
        { 28, 28, 37, 70, 3, 1, 1, 0, 1, 2, 1, 0, 1, 0, 0 },
        { 56, 56, 64, 64, 3, 1, 1, 1, 1, 4, 1, 1, 1, 0, 0 },
        { 13, 10, 66, 20, 3, 1, 1, 0, 1, 1, 0, 0, 3, 0, 0 },
        { 14, 13, 70, 40, 3, 1, 1, 1, 1, 1, 1, 0, 1, 5, 3 },
        { 15, 10, 48, 40, 3, 1, 1, 1, 1, 1, 1, 0, 2, 5, 3 },
        { 9, 11, 30, 100, 3, 1, 1, 2, 1, 3, 1, 1, 2, 0, 0 },
        { 10, 9, 200, 96, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 },
        /* the output-channel split with an odd count of 32-channel blocks divided by row tiles (GoogLeNet's 14x14) */
        { 14, 14, 112, 224, 3, 1, 1, 1, 1, 2, 1, 0, 1, 0, 0 },
        { 14, 14, 96, 208, 3, 1, 1, 1, 1, 1, 1, 1, 2, 0, 0 },
        { 15, 11, 64, 40, 3, 1, 1, 0, 1, 0, 1, 1, 1, 0, 0 },
        /* Winograd F(2x2, 5x5) (GoogLeNet / InceptionV3 5x5 branches): 'same' 28x28 / odd 15x13 maps (partial tiles),
         * 'valid' and pad-1 padding, Cin below, at and past a K block of 32 (16, 32, 48), Cout not a multiple of 32,
         * several tile blocks, the output-channel split (7x7, few tiles), residual, relu6 / leaky / swish, pitches,
         * batch 2 */
        { 28, 28, 16, 32, 5, 1, 1, 2, 1, 1, 1, 0, 1, 0, 0 },
        { 15, 13, 48, 40, 5, 1, 1, 2, 1, 2, 1, 1, 2, 0, 0 },
        { 14, 14, 32, 64, 5, 1, 1, 0, 1, 3, 1, 0, 1, 5, 3 },
        { 11, 12, 24, 70, 5, 1, 1, 1, 1, 4, 0, 1, 1, 0, 0 },
        { 7, 7, 48, 128, 5, 1, 1, 2, 1, 1, 1, 1, 2, 0, 0 },
        { 35, 35, 67, 64, 5, 1, 1, 2, 1, 1, 1, 0, 1, 0, 0 },
        /* 7x7 outputs (ResNet's last stage): F(2x2) with a partial tile row and column, over 2 samples, residual */
        { 7, 7, 96, 80, 3, 1, 1, 1, 1, 1, 1, 1, 2, 0, 0 },
        { 7, 7, 64, 64, 3, 1, 1, 1, 1, 2, 1, 0, 1, 3, 5 },
        /* AMX (src/cpu/conv_amx.h; 1x1 strides, pads, Cin not a multiple of 32, pitches and the local mode are in the
         * cases above): shared mode (split weights over 1 MiB) with several groups of 8 row blocks over 2 samples,
         * residual, relu6; a strided 1x1 in shared mode */
        { 20, 20, 384, 320, 3, 1, 1, 1, 1, 2, 1, 1, 2, 0, 0 },
        { 14, 14, 1000, 528, 1, 2, 1, 0, 1, 1, 1, 0, 1, 0, 0 },
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) conv_test(&convs[i]);

    dense_test(0, 64, 10, 1, 0);
    dense_test(0, 37, 70, 3, 1);
    dense_test(1, 19, 33, 2, 3);
    dense_test(0, 1000, 129, 1, 0);

    const kiln_op pools_ops[] = { KILN_OP_MAXPOOL, KILN_OP_AVGPOOL };
    for (int o = 0; o < 2; o++) {
        pool_test(pools_ops[o], 9, 9, 13, 3, 2, 1, 0, 2, 0);
        pool_test(pools_ops[o], 8, 7, 32, 2, 2, 0, 0, 1, 0);
        pool_test(pools_ops[o], 7, 7, 19, 3, 1, 1, 1, 1, 0);
        pool_test(pools_ops[o], 6, 6, 20, 3, 1, 1, 0, 1, 4);
        /* whole blocks of 4 vectors (64 channels with AVX-512) and a tail, a pitch, a batch */
        pool_test(pools_ops[o], 7, 8, 83, 3, 1, 1, 0, 2, 16);
        pool_test(pools_ops[o], 9, 9, 128, 3, 2, 0, 1, 1, 0);
    }
    pool_test(KILN_OP_GLOBAL_AVGPOOL, 7, 7, 37, 0, 1, 0, 0, 3, 0);
    pool_test(KILN_OP_GLOBAL_MAXPOOL, 5, 6, 70, 0, 1, 0, 0, 2, 0);
    pool_test(KILN_OP_GLOBAL_AVGPOOL, 4, 4, 24, 0, 1, 0, 0, 1, 5);

    const kiln_op bin_ops[] = { KILN_OP_ADD, KILN_OP_SUB, KILN_OP_MUL, KILN_OP_DIV, KILN_OP_MAX, KILN_OP_MIN };
    for (int o = 0; o < 6; o++)
        for (int form = 0; form < 4; form++) binary_test(bin_ops[o], form, form == 3 && o == 1, 19, 2, o == 0 ? 1 : 0);
    binary_test(KILN_OP_MUL, 3, 0, 40, 3, 3);
    binary_test(KILN_OP_ADD, 0, 0, 64, 1, 2);
    binary_test(KILN_OP_MUL, 0, 0, 37, 2, 3); /* swish epilogue */

    se_test(7, 7, 40, 10, 1, 3, 0);
    se_test(5, 6, 37, 9, 3, 3, 0);
    se_test(4, 4, 96, 4, 2, 1, 1);
    se_test(6, 6, 24, 6, 1, 3, 1);
    se_test(9, 9, 150, 7, 2, 3, 0); /* odd pixel count, 2.3 blocks of 4 vectors, dense tails (i mod 4, j) */
    se_test(3, 5, 33, 5, 1, 4, 1);  /* a scalar activation */
    /* fewer (sample, channel block) pairs than two a thread: the pixels summed in two halves (odd count: 9x9) */
    se_test(16, 16, 32, 8, 1, 4, 0);
    se_test(14, 14, 144, 6, 1, 3, 1);
    se_test(9, 9, 40, 5, 2, 4, 0);
    /* dense weights of 64 KiB or more: both dense layers in parallel (inputs split, partial sums joined); odd input
     * counts per thread, a partial output vector, batch 2; 300 -> 150 runs serially at 3 threads (3 * 150 > 300) */
    se_test(7, 7, 576, 32, 1, 4, 0);
    se_test(5, 5, 1000, 20, 2, 3, 1);
    se_test(4, 4, 300, 150, 1, 1, 0);
    exp_test();
    accuracy_test(14, 14, 256, 64, 3, 0);
    accuracy_test(7, 7, 1024, 96, 1, 0);
    accuracy_test(9, 9, 512, 512, 3, 0);
    accuracy_test(28, 28, 128, 128, 3, 1);
    accuracy_test(56, 56, 64, 64, 3, 1);
    accuracy_test(28, 28, 32, 96, 5, 1); /* AMX shared mode: large weights split per use */

    for (int i = 1; i <= 3; i++) kiln_threadpool_free(pools[i]);
    printf("%d cases, %d tactic runs, %d failures\n", cases_run, tactic_runs, t_failures);
    return t_failures ? 1 : 0;
}
