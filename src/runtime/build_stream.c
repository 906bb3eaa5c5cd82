/* Row streaming choices of a CPU engine (src/cpu/stream.h): which expansion convs are computed inside the depthwise
 * conv after them.
 *
 * Candidates are the pairs the kernels take (kiln_stream_tactics_ok with the chosen tactics, a dense expansion output)
 * whose expansion output is at least KILN_STREAM_MIN_BYTES a sample: smaller ones stay in the L2 cache between the
 * two layers anyway, while streaming costs the rows recomputed where threads meet and a gemm per row instead of per
 * image. Timed builds keep the candidates only when whole runs with them are at least 2% faster than without
 * (alternating, best of each); heuristic builds always keep them (deterministic). */
#include <stdio.h>
#include <stdlib.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/stream.h"
#include "build_opt.h"

/* Expansion outputs below this (a sample) are not streamed. */
#define KILN_STREAM_MIN_BYTES (256 * 1024)

static int mark(kiln_engine *e, const kiln_build_options *o)
{
    const kiln_graph *g = e->g;
    int n = 0;
    const char *env = getenv("KILN_STREAM_MIN_KB"); /* experiments: the candidate threshold */
    const int64_t min_bytes = env ? atoll(env) * 1024 : KILN_STREAM_MIN_BYTES;
    for (int i = 0; i < g->n_nodes; i++) e->layers[i].stream = 0;
    for (int i = 0; i + 1 < g->n_nodes; i++) {
        const kiln_value *y = &g->values[g->nodes[i].output];
        if (e->layers[i].backend != 0 || e->layers[i + 1].backend != 0 || e->value_pitch[g->nodes[i].output] ||
            !kiln_stream_tactics_ok(g, i, e->layers[i].tactic, e->layers[i + 1].tactic))
            continue;
        if (o->stream <= 0 && kiln_value_numel(y) * (int64_t)sizeof(float) < min_bytes) continue;
        e->layers[i].stream = 1;
        n++;
        i++; /* the depthwise conv is not an expansion */
    }
    return n;
}

static kiln_status apply(kiln_engine *e, const kiln_build_options *o, const int32_t *flags)
{
    for (int i = 0; i < e->g->n_nodes; i++) e->layers[i].stream = flags ? flags[i] : 0;
    kiln_status st = kiln_engine_plan(e, o, NULL);
    return st ? st : kiln_cpu_engine_prepare(e);
}

kiln_status kiln_choose_streams(kiln_engine *e, const kiln_build_options *o)
{
    for (int i = 0; i < e->g->n_nodes; i++) e->layers[i].stream = 0;
    if (o->device != KILN_DEVICE_CPU || o->stream < 0 || o->tactics == KILN_TACTICS_REFERENCE) return KILN_OK;
    const int n = mark(e, o);
    if (!n) return KILN_OK;
    int32_t *flags = malloc(sizeof(int32_t) * ((size_t)e->g->n_nodes + 1));
    if (!flags) return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory choosing row streaming");
    for (int i = 0; i < e->g->n_nodes; i++) flags[i] = e->layers[i].stream;
    kiln_status st = apply(e, o, flags);
    if (!st && o->stream == 0 && o->tactics == KILN_TACTICS_TIMED) {
        /* whole runs without and with, alternating; the best of each */
        double with = -1.0, without = -1.0;
        for (int r = 0; r < 2 && !st; r++) {
            const double a = kiln_build_time_engine(e, 2026u);
            if (a > 0 && (with < 0 || a < with)) with = a;
            if ((st = apply(e, o, NULL))) break;
            const double b = kiln_build_time_engine(e, 2026u);
            if (b > 0 && (without < 0 || b < without)) without = b;
            if ((st = apply(e, o, flags))) break;
        }
        const int keep = with > 0 && without > 0 && with < 0.98 * without;
        if (o->verbose)
            fprintf(stderr, "kiln: row streaming of %d expansion conv%s: runs %.2f ms with, %.2f ms without: %s\n", n,
                    n == 1 ? "" : "s", with, without, keep ? "kept" : "dropped");
        if (!st && !keep) st = apply(e, o, NULL);
    } else if (!st && o->verbose) {
        fprintf(stderr, "kiln: row streaming of %d expansion conv%s\n", n, n == 1 ? "" : "s");
    }
    free(flags);
    return st;
}
