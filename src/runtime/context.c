/* Execution contexts: per-thread state for running an engine. create() allocates everything once (arena, workspace,
 * pointer tables); run() only sets pointers and walks the layers, so it never allocates. */
#include <stdlib.h>
#include <string.h>

#include "../core/big_alloc.h"
#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/kernel.h"
#include "../plan/plan.h"
#include "backend_cuda.h"
#include "engine_internal.h"
#include "layers.h"
#include "threadpool.h"

void kiln_context_free(kiln_context *c)
{
    if (!c) return;
    if (c->gpu && c->gpu_api) c->gpu_api->context_free(c->gpu);
    free(c->arena);
    free(c->workspace);
    free(c->bound_inputs);
    free(c->bound_outputs);
    free(c->value_ptr);
    free(c->sample_floats);
    free(c->gpu_layer_ms);
    free(c->layer_pass_ms);
    kiln_threadpool_free(c->pool);
    free(c);
}

kiln_status kiln_context_create(const kiln_engine *e, kiln_context **out)
{
    kiln_diag_clear();
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_context_create: out is NULL");
    *out = NULL;
    if (!e) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_context_create: no engine given");
    kiln_context *c = calloc(1, sizeof(kiln_context));
    if (!c) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory creating a context");
    c->engine = e;
    const int on_gpu = KILN_TARGET_IS_CUDA(e->target); /* CUDA engines keep activations on the GPU */
    c->arena = kiln_big_alloc(on_gpu ? 0 : (size_t)e->arena_bytes);
    c->workspace = kiln_big_alloc(on_gpu ? 0 : (size_t)e->workspace_bytes);
    c->bound_inputs = calloc((size_t)e->g->n_inputs + 1, sizeof(float *));
    c->bound_outputs = calloc((size_t)e->g->n_outputs + 1, sizeof(float *));
    c->value_ptr = calloc((size_t)e->g->n_values + 1, sizeof(float *));
    c->sample_floats = calloc((size_t)e->g->n_values + 1, sizeof(int64_t));
    if (!c->arena || !c->workspace || !c->bound_inputs || !c->bound_outputs || !c->value_ptr || !c->sample_floats) {
        kiln_context_free(c);
        return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory for a context (arena %lld bytes, workspace %lld bytes)",
                         (long long)e->arena_bytes, (long long)e->workspace_bytes);
    }
    /* Passes (kiln_engine.pass_batch) move through the caller's input and output buffers one sample size at a time;
     * arena values stay at the start of their slots (sample_floats 0): every pass reuses the same, cache-warm
     * memory. Values live at the same time have disjoint slots for all of batch_max, so their first samples are
     * disjoint too. */
    for (int v = 0; v < e->g->n_values; v++) {
        const kiln_value *val = &e->g->values[v];
        if (val->kind == KILN_VALUE_CONSTANT || e->value_offset[v] >= 0) continue;
        c->sample_floats[v] = kiln_value_numel(val); /* bound buffers are dense */
    }
    if (on_gpu) {
        kiln_status st = kiln_cuda_load(&c->gpu_api);
        char err[1024] = "";
        int32_t *tactic = st ? NULL : calloc((size_t)e->g->n_nodes + 1, sizeof(int32_t));
        uint8_t *fp32 = st ? NULL : calloc((size_t)e->g->n_nodes + 1, 1); /* FP32 layers of an FP16 engine */
        c->gpu_layer_ms = st ? NULL : calloc((size_t)e->g->n_nodes + 1, sizeof(float));
        if (!st && (!tactic || !fp32 || !c->gpu_layer_ms)) st = kiln_fail(KILN_ERR_NO_MEMORY, "out of memory creating a context");
        if (!st) {
            for (int i = 0; i < e->g->n_nodes; i++) {
                tactic[i] = e->layers[i].tactic;
                fp32[i] = e->precision == KILN_PRECISION_FP16 && e->layers[i].precision == KILN_PRECISION_FP32;
            }
            int sm = 0;
            char name[256] = "";
            if (c->gpu_api->probe(&sm, name, sizeof name, err, sizeof err))
                st = kiln_fail(KILN_ERR_TARGET, "CUDA engine: %s", err);
            else if ((uint32_t)sm != e->target - KILN_TARGET_CUDA_BASE)
                st = kiln_fail(KILN_ERR_TARGET,
                               "the engine was built for a GPU of SM version sm_%u; this GPU (%s) is sm_%d: rebuild the "
                               "engine on this GPU (kiln build --device cuda)",
                               e->target - KILN_TARGET_CUDA_BASE, name, sm);
            else if (c->gpu_api->context_create(e->g, e->precision == KILN_PRECISION_FP16, fp32, e->batch_min,
                                                e->batch_max, tactic, &c->gpu, err, sizeof err))
                st = kiln_fail(KILN_ERR_UNSUPPORTED, "CUDA context: %s", err);
        }
        free(tactic);
        free(fp32);
        if (st) {
            kiln_context_free(c);
            return st;
        }
    }
    /* CPU engines: the worker threads start once here and persist across runs. */
    if (!on_gpu && e->threads > 1 && !(c->pool = kiln_threadpool_create(e->threads))) {
        kiln_context_free(c);
        return kiln_fail(KILN_ERR_NO_MEMORY, "cannot start %d worker threads for a context", e->threads);
    }
    *out = c;
    return KILN_OK;
}

kiln_status kiln_context_bind_input(kiln_context *c, int index, const float *data)
{
    kiln_diag_clear();
    if (!c) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "bind_input: no context given");
    if (index < 0 || index >= c->engine->g->n_inputs)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "bind_input: the engine has %d inputs, there is no index %d",
                         c->engine->g->n_inputs, index);
    c->bound_inputs[index] = data;
    return KILN_OK;
}

kiln_status kiln_context_bind_output(kiln_context *c, int index, float *data)
{
    kiln_diag_clear();
    if (!c) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "bind_output: no context given");
    if (index < 0 || index >= c->engine->g->n_outputs)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "bind_output: the engine has %d outputs, there is no index %d",
                         c->engine->g->n_outputs, index);
    c->bound_outputs[index] = data;
    return KILN_OK;
}

/* A GPU run with the layer callback set (kiln bench --dumpProfile): layer by layer with CUDA events around each, then
 * one event per layer with its GPU time; the layer outputs stay on the GPU (output NULL). */
static kiln_status run_gpu_layers(kiln_context *c, int batch)
{
    const kiln_engine *e = c->engine;
    char err[1024] = "";
    float ms[4] = {0, 0, 0, 0};
    const double t0 = kiln_layer_clock_ms();
    if (c->gpu_api->context_run_layers(c->gpu, c->bound_inputs, c->bound_outputs, batch, c->gpu_layer_ms, ms, err,
                                       sizeof err))
        return kiln_fail(KILN_ERR_INTERNAL, "CUDA run: %s", err);
    if (c->timing) {
        c->timing->on_gpu = 1;
        c->timing->h2d_ms = ms[0];
        c->timing->compute_ms = ms[1];
        c->timing->d2h_ms = ms[2];
        c->timing->enqueue_ms = ms[3];
    }
    double at = t0 + ms[0]; /* layers start after the input copies, back to back on the GPU */
    for (int i = 0; i < e->g->n_nodes; i++) {
        kiln_layer_event ev;
        ev.index = i;
        ev.batch = batch;
        ev.start_ms = at;
        ev.ms = c->gpu_layer_ms[i];
        ev.output = NULL;
        ev.pitch = 0;
        at += ev.ms;
        c->layer_cb(c->layer_user, &ev);
    }
    return KILN_OK;
}

/* Pointers and pitches of layer i's data for the pass starting at sample s0. */
static void layer_args(const kiln_context *c, int i, int s0, kiln_kernel_args *a)
{
    const kiln_engine *e = c->engine;
    const kiln_node *n = &e->g->nodes[i];
    a->node = n;
    for (int j = 0; j < n->n_inputs; j++)
        a->in[j] = c->value_ptr[n->inputs[j]] ? c->value_ptr[n->inputs[j]] + s0 * c->sample_floats[n->inputs[j]] : NULL;
    a->out = c->value_ptr[n->output] ? c->value_ptr[n->output] + s0 * c->sample_floats[n->output] : NULL;
    /* row pitches of memory-planner views (kernel.h); 0 = dense */
    for (int j = 0; j < n->n_inputs; j++) a->in_pitch[j] = e->value_pitch ? e->value_pitch[n->inputs[j]] : 0;
    a->out_pitch = e->value_pitch ? e->value_pitch[n->output] : 0;
}

kiln_status kiln_context_run(kiln_context *c, int batch)
{
    kiln_diag_clear();
    if (!c) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "run: no context given");
    const kiln_engine *e = c->engine;
    const kiln_graph *g = e->g;
    if (batch < e->batch_min || batch > e->batch_max)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "run: batch %d is outside the engine's batch range %d:%d", batch,
                         e->batch_min, e->batch_max);
    for (int i = 0; i < g->n_inputs; i++)
        if (!c->bound_inputs[i])
            return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "run: input %d '%s' has no buffer bound", i,
                             g->values[g->inputs[i]].name);
    for (int i = 0; i < g->n_outputs; i++)
        if (!c->bound_outputs[i])
            return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "run: output %d '%s' has no buffer bound", i,
                             g->values[g->outputs[i]].name);

    if (c->gpu && c->layer_cb) return run_gpu_layers(c, batch);
    if (c->gpu) {
        char err[1024] = "";
        if (c->timing) { /* kiln_context_run_timed */
            float ms[4] = {0, 0, 0, 0};
            if (c->gpu_api->context_run_timed(c->gpu, c->bound_inputs, c->bound_outputs, batch, ms, err, sizeof err))
                return kiln_fail(KILN_ERR_INTERNAL, "CUDA run: %s", err);
            c->timing->on_gpu = 1;
            c->timing->h2d_ms = ms[0];
            c->timing->compute_ms = ms[1];
            c->timing->d2h_ms = ms[2];
            c->timing->enqueue_ms = ms[3];
            return KILN_OK;
        }
        if (c->gpu_api->context_run(c->gpu, c->bound_inputs, c->bound_outputs, batch, err, sizeof err))
            return kiln_fail(KILN_ERR_INTERNAL, "CUDA run: %s", err);
        return KILN_OK;
    }
    /* Where every value lives for this run. The arena offsets were planned for batch_max; a smaller batch uses the
     * start of each slot. Graph outputs are set before inputs so a later output slot naming the same value as an
     * earlier one is filled by the copy below. */
    for (int v = 0; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        if (val->kind == KILN_VALUE_CONSTANT) c->value_ptr[v] = val->data;
        else c->value_ptr[v] = e->value_offset[v] >= 0 ? (float *)((char *)c->arena + e->value_offset[v]) : NULL;
    }
    for (int i = g->n_outputs - 1; i >= 0; i--) c->value_ptr[g->outputs[i]] = c->bound_outputs[i];
    for (int i = 0; i < g->n_inputs; i++) c->value_ptr[g->inputs[i]] = (float *)c->bound_inputs[i];

    kiln_kernel_args a;
    memset(&a, 0, sizeof a);
    a.g = g;
    a.workspace = e->workspace_bytes ? c->workspace : NULL;
    /* Passes of pass_batch samples (kiln_engine.pass_batch): every layer on samples [s0, s0 + nb), then the next ones
     * (samples never mix: the batch rule). With a layer callback (per-layer compare) the whole batch runs in one
     * pass, so callbacks see every sample; the arena is planned for batch_max, which allows it. A layer timer
     * (profiling) keeps the passes and sums each layer's time over them (kiln_layer_notify_pass). */
    const int pb = e->pass_batch > 0 && e->pass_batch < batch && (!c->layer_cb || c->layer_times_only)
                       ? e->pass_batch : batch;
    const int passes = (batch + pb - 1) / pb;
    for (int s0 = 0; s0 < batch; s0 += pb) {
        const int pass = s0 / pb;
        a.batch = pb < batch - s0 ? pb : batch - s0;
        for (int i = 0; i < g->n_nodes; i++) {
            /* An expansion conv streamed into the depthwise conv after it (src/cpu/stream.h): both in one kernel.
             * With a layer callback they run one by one (each callback sees its whole output); a layer timer
             * (profiling) keeps them together. */
            const int sm = c->layer_cb && !c->layer_times_only ? 0 : kiln_cpu_engine_streams(e, i);
            if (sm) {
                kiln_kernel_args ea = a, pa = a;
                layer_args(c, i, s0, &ea);
                if (sm == 3) layer_args(c, i + 2, s0, &pa);
                layer_args(c, i + 1, s0, &a);
                const double group_t0 = c->layer_cb ? kiln_layer_clock_ms() : 0.0;
                kiln_cpu_engine_run_stream(e, i, &ea, &a, sm == 3 ? &pa : NULL, c->pool);
                const int span = kiln_cpu_stream_span(sm);
                if (c->layer_cb) { /* a layer timer: the group's time on its last layer */
                    for (int k = 0; k < span; k++)
                        kiln_layer_notify_pass(c, i + k, batch, kiln_layer_clock_ms(), NULL, 0, pass, passes);
                    const kiln_kernel_args *last = sm == 3 ? &pa : &a;
                    kiln_layer_notify_pass(c, i + span, batch, group_t0, last->out, last->out_pitch, pass, passes);
                }
                i += span;
                continue;
            }
            layer_args(c, i, s0, &a);
            /* Layer callback (profiling, per-layer compare): one predictable branch per layer when off. */
            double layer_t0 = c->layer_cb ? kiln_layer_clock_ms() : 0.0;
            /* The layer's tactic as resolved for this CPU (tactic 0: the reference kernel). */
            kiln_cpu_engine_run_layer(e, i, &a, c->pool);
            if (c->layer_cb) kiln_layer_notify_pass(c, i, batch, layer_t0, a.out, a.out_pitch, pass, passes);
        }
    }
    /* An output slot whose value is also an earlier slot's: copy (rare; keeps every bound buffer filled). */
    for (int i = 0; i < g->n_outputs; i++)
        if (c->value_ptr[g->outputs[i]] != c->bound_outputs[i])
            memcpy(c->bound_outputs[i], c->value_ptr[g->outputs[i]],
                   (size_t)kiln_value_numel(&g->values[g->outputs[i]]) * (size_t)batch * sizeof(float));
    return KILN_OK;
}

kiln_status kiln_context_run_timed(kiln_context *c, int batch, kiln_run_timing *timing)
{
    if (!c || !timing) return kiln_context_run(c, batch); /* reports the missing context */
    memset(timing, 0, sizeof *timing);
    if (c->gpu) {
        c->timing = timing;
        kiln_status st = kiln_context_run(c, batch);
        c->timing = NULL;
        return st;
    }
    double t0 = kiln_layer_clock_ms();
    kiln_status st = kiln_context_run(c, batch);
    timing->compute_ms = timing->enqueue_ms = kiln_layer_clock_ms() - t0;
    return st;
}
