/* kiln_engine_build: network -> optimized graph -> memory plan -> weights block -> layers.
 *
 *   1. clone the network's graph (the network stays untouched and may be freed afterwards)
 *   2. run the optimizer pipeline (src/opt/), which checks the graph after every pass
 *   3. plan the activation arena for batch_max (src/plan/)
 *   4. copy every constant into ONE 64-byte aligned block, each constant 64-byte aligned inside it, and point the
 *      constants there (owns_data = 0): the same layout the engine file stores and the loader maps
 *   5. one layer record per node: backend 0 (CPU), tactic 0 (reference kernel), its workspace for batch_max */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/kernel.h"
#include "../format/engine_file.h"
#include "../opt/opt.h"
#include "../plan/plan.h"
#include "backend_cuda.h"
#include "build_cuda.h"
#include "build_opt.h"
#include "engine_internal.h"

void kiln_build_options_init(kiln_build_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof(*opt));
    opt->precision = KILN_PRECISION_FP32;
    opt->batch_min = 1;
    opt->batch_max = 1;
    opt->threads = 1;
    opt->verbose = 0;
    opt->disabled_passes = NULL;
    opt->tactics = KILN_TACTICS_TIMED;
    opt->timing_cache = NULL;
    opt->calib_lo = -1.0f; /* random FP16 calibration samples: the 'tf' preprocessing range */
    opt->calib_hi = 1.0f;
}

static kiln_status check_options(const kiln_build_options *o)
{
    if (o->device != KILN_DEVICE_CPU && o->device != KILN_DEVICE_CUDA)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "build options: device %d is unknown (0 = CPU, 1 = CUDA)", o->device);
    if (o->precision != KILN_PRECISION_FP32 && !(o->precision == KILN_PRECISION_FP16 && o->device == KILN_DEVICE_CUDA))
        return kiln_fail(KILN_ERR_UNSUPPORTED, "build options: precision %s is not supported on the %s (FP32 only)",
                         o->precision == KILN_PRECISION_FP16 ? "FP16" : "unknown",
                         o->device == KILN_DEVICE_CUDA ? "GPU" : "CPU; FP16 needs --device cuda");
    if (o->batch_min < 1)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "build options: batch_min is %d, it must be at least 1", o->batch_min);
    if (o->batch_min > o->batch_max)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "build options: batch range %d:%d is empty (min above max)",
                         o->batch_min, o->batch_max);
    if (o->batch_max > KILN_EF_MAX_BATCH)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "build options: batch_max %d is above the limit %d", o->batch_max,
                         KILN_EF_MAX_BATCH);
    if (o->threads < 1 || o->threads > KILN_EF_MAX_THREADS)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "build options: threads is %d, it must be 1 to %d", o->threads,
                         KILN_EF_MAX_THREADS);
    return KILN_OK;
}

static int64_t align64(int64_t x) { return (x + KILN_EF_WEIGHTS_ALIGN - 1) / KILN_EF_WEIGHTS_ALIGN * KILN_EF_WEIGHTS_ALIGN; }

/* Step 4: one aligned block for every constant. */
static kiln_status pack_weights(kiln_engine *e)
{
    kiln_graph *g = e->g;
    int64_t total = 0;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == KILN_VALUE_CONSTANT)
            total += align64(kiln_value_numel(&g->values[i]) * (int64_t)sizeof(float));
    e->weights = aligned_alloc(KILN_EF_WEIGHTS_ALIGN, (size_t)(total ? total : KILN_EF_WEIGHTS_ALIGN));
    if (!e->weights) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory for %lld bytes of weights", (long long)total);
    memset(e->weights, 0, (size_t)total); /* padding is written to the engine file: keep it deterministic */
    e->weights_bytes = total;
    int64_t at = 0;
    for (int i = 0; i < g->n_values; i++) {
        kiln_value *v = &g->values[i];
        if (v->kind != KILN_VALUE_CONSTANT) continue;
        size_t bytes = (size_t)kiln_value_numel(v) * sizeof(float);
        float *dst = (float *)((char *)e->weights + at);
        if (!v->data) return kiln_fail(KILN_ERR_INTERNAL, "constant '%s' has no data", v->name);
        memcpy(dst, v->data, bytes);
        if (v->owns_data) free(v->data);
        v->data = dst;
        v->owns_data = 0;
        at += align64((int64_t)bytes);
    }
    return KILN_OK;
}

static kiln_status build(const kiln_network *net, const kiln_build_options *o, kiln_engine *e)
{
    kiln_status st;
    e->batch_min = o->batch_min;
    e->batch_max = o->batch_max;
    e->threads = o->threads;
    e->precision = o->precision;
    e->target = kiln_host_target();
    snprintf(e->source_format, sizeof e->source_format, "%s", net->format);
    if (net->g->fixed_shape && (o->batch_min != 1 || o->batch_max != 1))
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: a fixed-shape model (%s; every shape static): its engine runs the "
                         "model's own shapes, batch 1 only; batch %d:%d was asked for (re-export the model with the "
                         "batch you want)", net->source_path ? net->source_path : "model", net->g->fixed_note,
                         o->batch_min, o->batch_max);
    if (!(e->g = kiln_graph_clone(net->g))) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory copying the network");
    if ((st = kiln_engine_optimize(e, o))) return st; /* src/runtime/build_opt.c: passes + build report */
    kiln_graph *g = e->g;
    if (g->n_inputs < 1 || g->n_outputs < 1)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "the network has %d inputs and %d outputs (needs at least one of each)",
                         g->n_inputs, g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++)
        for (int j = 0; j < g->n_inputs; j++)
            if (g->outputs[i] == g->inputs[j])
                return kiln_fail(KILN_ERR_UNSUPPORTED, "output '%s' is the input itself (nothing to compute)",
                                 g->values[g->outputs[i]].name);

    e->layers = calloc((size_t)g->n_nodes + 1, sizeof(kiln_layer));
    if (!e->layers) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory building the engine");
    int64_t sum = 0;
    if ((st = kiln_engine_plan(e, o, &sum))) return st; /* src/runtime/build_opt.c: views, in place, best fit */
    if ((st = pack_weights(e))) return st;
    e->workspace_bytes = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        e->layers[i].backend = 0;
        e->layers[i].tactic = 0;
        e->layers[i].workspace = (int64_t)kiln_ref_workspace_bytes(g, &g->nodes[i], e->batch_max);
        e->layers[i].precision = KILN_PRECISION_FP32; /* FP16 CUDA engines: set per layer by build_cuda.c */
        e->layers[i].range = -1.0f;
        if (e->layers[i].workspace > e->workspace_bytes) e->workspace_bytes = e->layers[i].workspace;
    }
    if (o->device == KILN_DEVICE_CUDA && (st = kiln_build_cuda_layers(o, e))) return st;
    /* CPU layers: pick each layer's kernel (timed or heuristic), then pack weights for the kernels that run here. */
    if (o->device != KILN_DEVICE_CUDA && (st = kiln_cpu_choose_tactics(e, o))) return st;
    /* the tactics known, plan again: CPU gemm convs may write their output over their residual (plan.h) */
    if (o->device != KILN_DEVICE_CUDA && (st = kiln_engine_plan(e, o, &sum))) return st;
    if ((st = kiln_cpu_engine_prepare(e))) return st;
    if (o->device != KILN_DEVICE_CUDA && (st = kiln_choose_pass_batch(e, o))) return st;
    if (o->device != KILN_DEVICE_CUDA && (st = kiln_choose_streams(e, o))) return st; /* may re-plan the memory */
    if (o->verbose && *kiln_cpu_engine_note(e)) fprintf(stderr, "kiln: %s\n", kiln_cpu_engine_note(e));
    if (o->verbose)
        fprintf(stderr,
                "kiln: memory plan for batch %d: arena %lld bytes (all activations together: %lld), workspace %lld, "
                "weights %lld bytes\n",
                e->batch_max, (long long)e->arena_bytes, (long long)sum, (long long)e->workspace_bytes,
                (long long)e->weights_bytes);
    return KILN_OK;
}

kiln_status kiln_engine_build(const kiln_network *net, const kiln_build_options *opt, kiln_engine **out)
{
    kiln_diag_clear();
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_build: out is NULL");
    *out = NULL;
    if (!net || !net->g) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_build: no network given");
    kiln_build_options defaults;
    if (!opt) {
        kiln_build_options_init(&defaults);
        opt = &defaults;
    }
    kiln_status st = check_options(opt);
    if (st) return st;
    kiln_engine *e = calloc(1, sizeof(kiln_engine));
    if (!e) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory building the engine");
    if ((st = build(net, opt, e))) {
        kiln_engine_free(e);
        return st;
    }
    *out = e;
    return KILN_OK;
}
