/* FP16 calibration (calibrate.h): run the engine's optimized graph in FP32 on this CPU over calibration samples,
 * measure each layer's range, and choose the layers that stay FP32 in an FP16 CUDA engine. */
#define _POSIX_C_SOURCE 200809L /* sysconf */
#include "calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/act.h"
#include "../core/status.h"
#include "../cpu/kernel.h"
#include "../cpu/tactics.h"
#include "threadpool.h"

#define CALIB_CHUNK 8 /* samples per pass: bounds the activation memory of the calibration run */

static float max_abs(const float *x, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (a > m || a != a) m = a != a ? INFINITY : a; /* a NaN counts as an overflow */
    }
    return m;
}

/* splitmix64: the same samples on every machine. */
static void fill_uniform(float *x, int64_t n, uint64_t seed, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        x[i] = lo + (hi - lo) * (float)((double)(z >> 11) / 9007199254740992.0);
    }
}

/* The GPU writes the raw GEMM/convolution result (before bias, residual and activation are applied by the epilogue)
 * in the layer's storage type, so that value must fit too. Depthwise convolutions accumulate and activate in float. */
static int stores_pre_activation(const kiln_graph *g, const kiln_node *n)
{
    if (n->op == KILN_OP_DENSE) return 1;
    if (n->op != KILN_OP_CONV2D) return 0;
    const int64_t cin = g->values[n->inputs[0]].dims[3];
    return !(n->attrs.groups > 1 && n->attrs.groups == cin);
}

/* One node over `batch` samples with this CPU's heuristic kernel (the reference kernel in reference mode).
 * Returns 0, or -1 when out of memory. */
static int run_node(const kiln_graph *g, const kiln_node *n, int batch, float **vals, float *out, int reference,
                    kiln_threadpool *pool)
{
    kiln_kernel_args a;
    memset(&a, 0, sizeof a);
    a.g = g;
    a.node = n;
    a.batch = batch;
    for (int j = 0; j < n->n_inputs; j++) {
        const kiln_value *v = &g->values[n->inputs[j]];
        a.in[j] = v->kind == KILN_VALUE_CONSTANT ? v->data : vals[n->inputs[j]];
    }
    a.out = out;
    const int t = reference ? 0 : kiln_cpu_tactic_heuristic(g, n, batch, 0);
    const size_t ws = t > 0 ? kiln_cpu_tactic_workspace(g, n, t, batch) : kiln_ref_workspace_bytes(g, n, batch);
    const size_t pb = t > 0 ? kiln_cpu_tactic_packed_bytes(g, n, t) : 0;
    void *wsp = ws ? aligned_alloc(64, (ws + 63) / 64 * 64) : NULL, *packed = pb ? aligned_alloc(64, (pb + 63) / 64 * 64) : NULL;
    if ((ws && !wsp) || (pb && !packed)) {
        free(wsp), free(packed);
        return -1;
    }
    a.workspace = wsp;
    if (t > 0) {
        if (pb) kiln_cpu_tactic_pack(g, n, t, packed);
        kiln_cpu_tactic_run(t, &a, packed, pool);
    } else {
        kiln_ref_kernel((kiln_op)n->op)(&a);
    }
    free(wsp);
    free(packed);
    return 0;
}

/* One pass over `batch` samples: inputs[i] holds batch samples of graph input i. vmax/pre accumulate. */
static kiln_status calib_pass(const kiln_engine *e, int batch, float **inputs, const int *last_use, float *vmax,
                              float *pre, int reference, kiln_threadpool *pool)
{
    const kiln_graph *g = e->g;
    kiln_status st = KILN_OK;
    float **vals = calloc((size_t)g->n_values + 1, sizeof(float *));
    char *owned = calloc((size_t)g->n_values + 1, 1);
    if (!vals || !owned) {
        free(vals), free(owned);
        return kiln_fail(KILN_ERR_NO_MEMORY, "FP16 calibration: out of memory");
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const int v = g->inputs[i];
        vals[v] = inputs[i];
        vmax[v] = fmaxf(vmax[v], max_abs(inputs[i], kiln_value_numel(&g->values[v]) * batch));
    }
    for (int i = 0; i < g->n_nodes && !st; i++) {
        const kiln_node *n = &g->nodes[i];
        const int y = n->output;
        const int64_t ny = kiln_value_numel(&g->values[y]) * batch;
        float *out = malloc(sizeof(float) * (size_t)(ny ? ny : 1));
        if (!out) {
            st = kiln_fail(KILN_ERR_NO_MEMORY, "FP16 calibration: out of memory for layer '%s'", n->name);
            break;
        }
        vals[y] = out;
        owned[y] = 1;
        int bad;
        if (stores_pre_activation(g, n) && n->attrs.act.kind != KILN_ACT_NONE) {
            kiln_node pre_node = *n; /* the same layer without its activation: the value before the epilogue */
            pre_node.attrs.act.kind = KILN_ACT_NONE;
            bad = run_node(g, &pre_node, batch, vals, out, reference, pool);
            if (!bad) {
                pre[i] = fmaxf(pre[i], max_abs(out, ny));
                for (int64_t k = 0; k < ny; k++) out[k] = kiln_act_apply(&n->attrs.act, out[k]);
            }
        } else {
            bad = run_node(g, n, batch, vals, out, reference, pool);
            if (!bad && stores_pre_activation(g, n)) pre[i] = fmaxf(pre[i], max_abs(out, ny));
        }
        if (bad) {
            st = kiln_fail(KILN_ERR_NO_MEMORY, "FP16 calibration: out of memory for layer '%s'", n->name);
            break;
        }
        vmax[y] = fmaxf(vmax[y], max_abs(out, ny));
        /* free what no later layer reads */
        for (int j = 0; j < n->n_inputs; j++) {
            const int v = n->inputs[j];
            if (owned[v] && last_use[v] == i) free(vals[v]), vals[v] = NULL, owned[v] = 0;
        }
        if (last_use[y] <= i && owned[y]) free(vals[y]), vals[y] = NULL, owned[y] = 0;
    }
    for (int v = 0; v < g->n_values; v++)
        if (owned[v]) free(vals[v]);
    free(vals);
    free(owned);
    return st;
}

kiln_status kiln_calibrate_ranges(const kiln_engine *e, const kiln_build_options *o, float *range)
{
    const kiln_graph *g = e->g;
    if (g->n_inputs < 1) return kiln_fail(KILN_ERR_UNSUPPORTED, "FP16 calibration: the network has no input");
    const int64_t s0 = kiln_value_numel(&g->values[g->inputs[0]]);
    int64_t samples = KILN_CALIB_RANDOM_SAMPLES;
    if (o->calib_data) {
        if (o->calib_numel <= 0 || s0 <= 0 || o->calib_numel % s0)
            return kiln_fail(KILN_ERR_SHAPE,
                             "FP16 calibration data: %lld floats is not a whole number of samples of input '%s' (%lld "
                             "floats each)",
                             (long long)o->calib_numel, g->values[g->inputs[0]].name, (long long)s0);
        samples = o->calib_numel / s0;
    }
    float lo = o->calib_lo, hi = o->calib_hi;
    if (!(lo < hi)) lo = -1.0f, hi = 1.0f; /* unset (zeroed options) or nonsense: the documented default */

    kiln_status st = KILN_OK;
    int *last_use = malloc(sizeof(int) * ((size_t)g->n_values + 1));
    float *vmax = calloc((size_t)g->n_values + 1, sizeof(float));
    float *pre = calloc((size_t)g->n_nodes + 1, sizeof(float));
    float **inputs = calloc((size_t)g->n_inputs, sizeof(float *));
    if (!last_use || !vmax || !pre || !inputs) st = kiln_fail(KILN_ERR_NO_MEMORY, "FP16 calibration: out of memory");
    for (int v = 0; !st && v < g->n_values; v++) last_use[v] = -1;
    for (int i = 0; !st && i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) last_use[g->nodes[i].inputs[j]] = i;
    for (int i = 0; !st && i < g->n_outputs; i++) last_use[g->outputs[i]] = g->n_nodes; /* kept to the end */
    for (int i = 0; !st && i < g->n_inputs; i++)
        if (!(inputs[i] = malloc(sizeof(float) * (size_t)(kiln_value_numel(&g->values[g->inputs[i]]) * CALIB_CHUNK))))
            st = kiln_fail(KILN_ERR_NO_MEMORY, "FP16 calibration: out of memory");
    /* The CPU kernels' threads: every core (the build machine's CPU is otherwise idle while it waits for the GPU). */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    kiln_threadpool *pool = !st && cores > 1 ? kiln_threadpool_create(cores > 16 ? 16 : (int)cores) : NULL;
    const int reference = o->tactics == KILN_TACTICS_REFERENCE;
    for (int64_t at = 0; !st && at < samples; at += CALIB_CHUNK) {
        const int batch = (int)(samples - at < CALIB_CHUNK ? samples - at : CALIB_CHUNK);
        for (int i = 0; i < g->n_inputs; i++) {
            const int64_t per = kiln_value_numel(&g->values[g->inputs[i]]);
            if (i == 0 && o->calib_data)
                memcpy(inputs[0], o->calib_data + at * per, sizeof(float) * (size_t)(per * batch));
            else
                fill_uniform(inputs[i], per * batch, 0x6b696c6eULL + 7919u * (uint64_t)i + 104729u * (uint64_t)at, lo, hi);
        }
        st = calib_pass(e, batch, inputs, last_use, vmax, pre, reference, pool);
    }
    kiln_threadpool_free(pool);
    for (int i = 0; !st && i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        float r = fmaxf(vmax[n->output], pre[i]);
        for (int j = 0; j < n->n_inputs; j++)
            if (g->values[n->inputs[j]].kind == KILN_VALUE_ACTIVATION) r = fmaxf(r, vmax[n->inputs[j]]);
        range[i] = r;
    }
    for (int i = 0; inputs && i < g->n_inputs; i++) free(inputs[i]);
    free(inputs);
    free(last_use);
    free(vmax);
    free(pre);
    return st;
}

/* ---- precision ------------------------------------------------------------------------------------------------ */

static int part_matches(const char *s, size_t len, const char *want, size_t want_len)
{
    return len == want_len && !strncmp(s, want, len);
}

int kiln_layer_name_matches(const kiln_graph *g, const kiln_node *n, const char *want, size_t want_len)
{
    if (!want_len) return 0;
    if (part_matches(n->name, strlen(n->name), want, want_len)) return 1;
    const char *out = g->values[n->output].name;
    if (out && part_matches(out, strlen(out), want, want_len)) return 1;
    /* "a + b || c + d": every source layer's name */
    const char *p = n->name;
    for (;;) {
        const char *q1 = strstr(p, " + "), *q2 = strstr(p, " || ");
        const char *q = q1 && (!q2 || q1 < q2) ? q1 : q2;
        const size_t len = q ? (size_t)(q - p) : strlen(p);
        if (part_matches(p, len, want, want_len)) return 1;
        if (!q) return 0;
        p = q + (q == q1 ? 3 : 4);
    }
}

kiln_status kiln_assign_precision(kiln_engine *e, const kiln_build_options *o, const float *range)
{
    const kiln_graph *g = e->g;
    for (int i = 0; i < g->n_nodes; i++) {
        e->layers[i].range = range ? range[i] : -1.0f;
        e->layers[i].precision = range && !(range[i] <= KILN_FP16_SAFE_RANGE) ? KILN_PRECISION_FP32 : KILN_PRECISION_FP16;
    }
    const char *p = o->fp32_layers;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int found = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (kiln_layer_name_matches(g, &g->nodes[i], p, len)) {
                e->layers[i].precision = KILN_PRECISION_FP32;
                found = 1;
            }
        if (len && !found)
            return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                             "--fp32-layers: no layer is called '%.*s' (after optimization; 'kiln inspect' lists the "
                             "layers and the source layers fused into each)",
                             (int)(len > 200 ? 200 : len), p);
        p = comma ? comma + 1 : NULL;
    }
    return KILN_OK;
}
