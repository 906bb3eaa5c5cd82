/* CUDA engines (backend 1) at build time: the same optimized graph; the GPU present now is recorded as the target
 * (its SM version); FP16 engines get per-layer precisions from calibration (calibrate.h); every convolution's tactic
 * is chosen by timing candidates on this GPU (src/cuda/), or taken from the timing cache (--timing-cache) when this
 * layer was timed before on a GPU of the same SM version at the same precision. */
#include "build_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "backend_cuda.h"
#include "calibrate.h"

#define KEY_START 0xcbf29ce484222325ULL

static uint64_t mix_f(uint64_t h, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return kiln_timing_key_mix(h, (int64_t)u);
}

static uint64_t mix_act(uint64_t h, const kiln_act *a)
{
    h = kiln_timing_key_mix(h, a->kind);
    h = mix_f(h, a->alpha), h = mix_f(h, a->beta);
    return mix_f(h, a->gamma);
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    for (; s && *s; s++) h = kiln_timing_key_mix(h, (unsigned char)*s);
    return kiln_timing_key_mix(h, 0);
}

/* What a GPU convolution's timing depends on: op, every input's kind and shape, the attributes the kernels read, the
 * activation (cuDNN's fused form takes plain ReLU only), the residual Add the backend fuses into it (the single Add
 * reading its output: that Add's activation and operand shape), batch_max, the GPU's SM version, the layer's precision
 * and KILN_CUDA_CONV (which restricts the candidates). Names and weight values do not matter. */
static uint64_t gpu_layer_key(const kiln_engine *e, int i, int sm, int precision)
{
    const kiln_graph *g = e->g;
    const kiln_node *n = &g->nodes[i];
    uint64_t h = mix_str(KEY_START, "cuda");
    h = kiln_timing_key_mix(h, sm), h = kiln_timing_key_mix(h, precision), h = kiln_timing_key_mix(h, e->batch_max);
    h = kiln_timing_key_mix(h, n->op), h = kiln_timing_key_mix(h, n->n_inputs);
    for (int j = 0; j < n->n_inputs; j++) {
        const kiln_value *v = &g->values[n->inputs[j]];
        h = kiln_timing_key_mix(h, v->kind), h = kiln_timing_key_mix(h, v->rank);
        for (int d = 0; d < v->rank; d++) h = kiln_timing_key_mix(h, v->dims[d]);
    }
    const kiln_attrs *a = &n->attrs;
    const int32_t f[] = { a->kernel[0], a->kernel[1], a->stride[0],   a->stride[1],   a->dilation[0], a->dilation[1],
                          a->pads[0],   a->pads[1],   a->pads[2],     a->pads[3],     a->groups };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) h = kiln_timing_key_mix(h, f[k]);
    h = mix_act(h, &a->act);
    int readers = 0, add = -1;
    for (int k = 0; k < g->n_nodes; k++)
        for (int j = 0; j < g->nodes[k].n_inputs; j++)
            if (g->nodes[k].inputs[j] == n->output) readers++, add = k;
    if (readers == 1 && g->nodes[add].op == KILN_OP_ADD) {
        const kiln_node *an = &g->nodes[add];
        h = mix_str(h, "residual");
        h = mix_act(h, &an->attrs.act);
        for (int j = 0; j < an->n_inputs; j++) {
            const kiln_value *v = &g->values[an->inputs[j]];
            h = kiln_timing_key_mix(h, v->kind);
            for (int d = 0; d < v->rank; d++) h = kiln_timing_key_mix(h, v->dims[d]);
        }
    }
    return mix_str(h, getenv("KILN_CUDA_CONV"));
}

/* Layers whose tactic is timed on the GPU (the others are kiln's own kernels): convolutions. */
static int gpu_timed_layer(const kiln_node *n) { return n->op == KILN_OP_CONV2D; }

static kiln_status set_precisions(const kiln_build_options *o, kiln_engine *e)
{
    const kiln_graph *g = e->g;
    if (o->precision != KILN_PRECISION_FP16) {
        for (int i = 0; i < g->n_nodes; i++) e->layers[i].precision = KILN_PRECISION_FP32, e->layers[i].range = -1.0f;
        return KILN_OK;
    }
    /* KILN_FP16_PROTECT=0 (diagnosis, tests): no calibration, every layer FP16 unless named in fp32_layers. */
    const char *protect = getenv("KILN_FP16_PROTECT");
    if (protect && !strcmp(protect, "0")) return kiln_assign_precision(e, o, NULL);
    float *range = malloc(sizeof(float) * ((size_t)g->n_nodes + 1));
    if (!range) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory building the engine");
    kiln_status st = kiln_calibrate_ranges(e, o, range);
    if (!st) st = kiln_assign_precision(e, o, range);
    free(range);
    if (st || !o->verbose) return st;
    int kept = 0;
    for (int i = 0; i < g->n_nodes; i++) kept += e->layers[i].precision == KILN_PRECISION_FP32;
    fprintf(stderr, "kiln: FP16 calibration on %s: %d of %d layers kept in FP32\n",
            o->calib_data ? "the given samples" : "random samples", kept, g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++)
        if (e->layers[i].precision == KILN_PRECISION_FP32)
            fprintf(stderr, "kiln:   FP32 %-24s range %g\n", g->values[g->nodes[i].output].name, (double)e->layers[i].range);
    return KILN_OK;
}

kiln_status kiln_build_cuda_layers(const kiln_build_options *o, kiln_engine *e)
{
    const kiln_cuda_backend_api *api;
    kiln_status st = kiln_cuda_load(&api);
    if (st) return st;
    const kiln_graph *g = e->g;
    char err[1024] = "", name[256] = "";
    int sm = 0;
    if (api->probe(&sm, name, sizeof name, err, sizeof err))
        return kiln_fail(KILN_ERR_UNSUPPORTED, "--device cuda: %s", err);
    if ((st = set_precisions(o, e))) return st;
    const size_t nn = (size_t)g->n_nodes + 1;
    int32_t *tactic = calloc(nn, sizeof(int32_t));
    float *ms = calloc(nn, sizeof(float));
    uint8_t *fp32 = calloc(nn, 1);
    uint64_t *key = calloc(nn, sizeof(uint64_t));
    kiln_timing_cache *cache = o->timing_cache ? kiln_timing_cache_open(o->timing_cache) : NULL;
    if (!tactic || !ms || !fp32 || !key || (o->timing_cache && !cache)) {
        st = kiln_fail(KILN_ERR_NO_MEMORY, "out of memory building the engine");
        goto done;
    }
    int hits = 0, timed = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        fp32[i] = o->precision == KILN_PRECISION_FP16 && e->layers[i].precision == KILN_PRECISION_FP32;
        if (!cache || !gpu_timed_layer(&g->nodes[i])) continue;
        key[i] = gpu_layer_key(e, i, sm, e->layers[i].precision);
        const char *hit = kiln_timing_cache_get(cache, key[i], NULL);
        int t = 0;
        if (hit && sscanf(hit, "cuda_t%d", &t) == 1 && t > 0) tactic[i] = t, hits++;
    }
    if (api->choose_tactics(g, o->precision == KILN_PRECISION_FP16, fp32, e->batch_max, tactic, ms, err, sizeof err)) {
        st = kiln_fail(KILN_ERR_UNSUPPORTED, "--device cuda: %s", err);
        goto done;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        e->layers[i].backend = 1;
        e->layers[i].tactic = tactic[i];
        e->layers[i].workspace = 0;
        if (gpu_timed_layer(&g->nodes[i]) && ms[i] >= 0.0f) {
            timed++;
            char tn[32];
            snprintf(tn, sizeof tn, "cuda_t%d", tactic[i]);
            if (cache) kiln_timing_cache_put(cache, key[i], tn, 1e3 * (double)ms[i]);
        }
    }
    e->workspace_bytes = 0;
    e->target = KILN_TARGET_CUDA_BASE + (uint32_t)sm;
    if (o->verbose) {
        fprintf(stderr, "kiln: CUDA engine for %s (sm_%d)\n", name, sm);
        fprintf(stderr, "kiln: GPU tactics: %d convolution layers timed, %d from the timing cache\n", timed, hits);
    }
done:
    if (cache) {
        kiln_status cs = kiln_timing_cache_close(cache, st ? NULL : o->timing_cache);
        if (!st) st = cs;
    }
    free(tactic), free(ms), free(fp32), free(key);
    return st;
}
