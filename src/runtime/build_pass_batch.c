/* Samples per pass (kiln_engine.pass_batch) for CPU engines built for batch_max > 1.
 *
 * Why: layer-at-a-time execution of a whole batch streams every activation through memory once per layer as soon
 * as batch x activation outgrows the L2 cache (MobileNetV2 at batch 8: kiln 1.13x onnxruntime on one thread, while
 * eight batch-1 runs would be 0.9x). Running the layers on a few samples at a time keeps each layer's data in cache;
 * it costs parallelism inside small layers and re-reads every layer's weights once per pass. Which wins depends on
 * the model, the batch and the threads, so the build times whole runs (timed tactics) and keeps the fastest. */
#include <stdio.h>
#include <stdlib.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/tactics.h"
#include "build_opt.h"
#include "layers.h"

/* Best of `reps` timed runs of batch_max (ms), after one warm-up; <0 when a run failed. */
static double time_runs(kiln_context *c, int batch, int reps)
{
    if (kiln_context_run(c, batch)) return -1.0;
    double best = -1.0;
    for (int r = 0; r < reps; r++) {
        const double t0 = kiln_layer_clock_ms();
        if (kiln_context_run(c, batch)) return -1.0;
        const double ms = kiln_layer_clock_ms() - t0;
        if (best < 0 || ms < best) best = ms;
    }
    return best;
}

/* Tactics for runs of `batch` samples (timed at that batch, as a pass runs them); workspace for batch_max (a profiled
 * run, kiln_context_set_layer_callback, walks the whole batch at once). */
static kiln_status retune(kiln_engine *e, const kiln_build_options *o, int batch)
{
    const int saved = e->batch_max;
    e->batch_max = batch;
    kiln_status st = kiln_cpu_choose_tactics(e, o);
    e->batch_max = saved;
    return st ? st : kiln_cpu_engine_prepare(e);
}

double kiln_build_time_engine(kiln_engine *e, uint32_t seed)
{
    kiln_context *c = NULL;
    if (kiln_context_create(e, &c)) return -1.0;
    const kiln_graph *g = e->g;
    float **in = calloc((size_t)g->n_inputs + 1, sizeof(float *)), **out = calloc((size_t)g->n_outputs + 1, sizeof(float *));
    int ok = in && out;
    for (int i = 0; ok && i < g->n_inputs; i++) {
        const int64_t n = kiln_value_numel(&g->values[g->inputs[i]]) * e->batch_max;
        if (!(in[i] = malloc((size_t)n * sizeof(float)))) ok = 0;
        if (ok) kiln_cpu_fill_uniform(in[i], n, &seed);
        if (ok) ok = !kiln_context_bind_input(c, i, in[i]);
    }
    for (int i = 0; ok && i < g->n_outputs; i++) {
        const int64_t n = kiln_value_numel(&g->values[g->outputs[i]]) * e->batch_max;
        ok = (out[i] = malloc((size_t)n * sizeof(float))) && !kiln_context_bind_output(c, i, out[i]);
    }
    const double ms = ok ? time_runs(c, e->batch_max, 2) : -1.0;
    kiln_context_free(c);
    for (int i = 0; in && i < g->n_inputs; i++) free(in[i]);
    for (int i = 0; out && i < g->n_outputs; i++) free(out[i]);
    free(in);
    free(out);
    return ms;
}

kiln_status kiln_choose_pass_batch(kiln_engine *e, const kiln_build_options *o)
{
    e->pass_batch = 0;
    if (e->batch_max <= 1 || e->g->fixed_shape) return KILN_OK;
    if (o->pass_batch < 0) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "build options: pass_batch %d < 0", o->pass_batch);
    const kiln_graph *g = e->g;
    if (o->pass_batch > 0) {
        e->pass_batch = o->pass_batch >= e->batch_max ? 0 : o->pass_batch;
        return e->pass_batch ? retune(e, o, e->pass_batch) : KILN_OK;
    }
    if (o->tactics != KILN_TACTICS_TIMED) return KILN_OK; /* heuristic builds stay deterministic: one pass */
    const int cached = kiln_cpu_cached_pass_batch(e, o);
    if (cached >= 0) { /* a rebuild with the timing cache: the same choice, its tactics from the cache too */
        e->pass_batch = cached >= e->batch_max ? 0 : cached;
        return e->pass_batch ? retune(e, o, e->pass_batch) : KILN_OK;
    }
    /* Candidates: the whole batch (tactics already chosen for it), then 1, 2, 4 samples a pass, first timed with
     * those tactics (a cheap estimate: re-timing every layer's tactics at a pass's batch costs as much as the first
     * build), then the most promising one (within 3% of the whole batch or better) with tactics timed at its own
     * batch. A pass size must beat the whole batch by 3% (timing noise) to be kept. */
    int32_t *keep = malloc(sizeof(int32_t) * ((size_t)g->n_nodes + 1));
    if (!keep) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory choosing samples per pass");
    for (int i = 0; i < g->n_nodes; i++) keep[i] = e->layers[i].tactic;
    double whole = kiln_build_time_engine(e, 2026u), best = whole, est_best = -1.0;
    int best_pb = 0, try_pb = 0;
    kiln_status st = KILN_OK;
    char line[320];
    int len = snprintf(line, sizeof line, "kiln: samples per pass at batch %d: all %d -> %.2f ms; with its tactics:",
                       e->batch_max, e->batch_max, whole);
    for (int pb = 1; whole > 0 && pb <= 4 && pb < e->batch_max; pb *= 2) {
        e->pass_batch = pb;
        const double ms = kiln_build_time_engine(e, 2026u);
        e->pass_batch = 0;
        if (len > 0 && len < (int)sizeof line) len += snprintf(line + len, sizeof line - (size_t)len, " %d -> %.2f ms", pb, ms);
        if (ms > 0 && (est_best < 0 || ms < est_best)) est_best = ms, try_pb = pb;
    }
    if (try_pb && est_best < 1.03 * whole && (st = retune(e, o, try_pb)) == KILN_OK) {
        e->pass_batch = try_pb;
        const double ms = kiln_build_time_engine(e, 2026u);
        e->pass_batch = 0;
        if (len > 0 && len < (int)sizeof line)
            len += snprintf(line + len, sizeof line - (size_t)len, "; %d with tactics timed at %d -> %.2f ms", try_pb, try_pb, ms);
        if (ms > 0 && ms < 0.97 * whole) {
            best = ms, best_pb = try_pb;
            for (int i = 0; i < g->n_nodes; i++) keep[i] = e->layers[i].tactic;
        }
    }
    if (o->verbose) fprintf(stderr, "%s; chosen: %d\n", line, best_pb ? best_pb : e->batch_max);
    if (!st && whole > 0) st = kiln_cpu_cache_pass_batch(e, o, best_pb, best);
    if (!st) {
        e->pass_batch = best_pb;
        for (int i = 0; i < g->n_nodes; i++) e->layers[i].tactic = keep[i];
        st = kiln_cpu_engine_prepare(e); /* packed weights and workspace (batch_max) for the kept tactics */
        for (int i = 0; i < g->n_nodes && !st; i++)
            e->layers[i].workspace = (int64_t)kiln_cpu_tactic_workspace(g, &g->nodes[i], keep[i], e->batch_max);
    }
    free(keep);
    return st;
}
