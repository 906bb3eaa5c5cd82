/* Row streaming choices of a CPU engine (src/cpu/stream.h): which expansion convs (and stems) are computed inside the
 * depthwise conv after them, which squeeze-excites are folded into the 1x1 conv after them.
 *
 * Candidates are the pairs the kernels take (kiln_stream_tactics_ok with the chosen tactics, a dense expansion output)
 * whose expansion output is at least KILN_STREAM_MIN_BYTES a sample: smaller ones stay in the L2 cache between the
 * two layers anyway, while streaming costs the rows recomputed where threads meet and a gemm per row instead of per
 * image. Timed builds time whole runs with nested sets of them and without (alternating, best of each) and keep the
 * fastest set unless runs without any are at least 2% faster still; heuristic builds always keep them all
 * (deterministic). */
#include <stdio.h>
#include <stdlib.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/stream.h"
#include "../cpu/tactics.h"
#include "build_opt.h"
#include "layers.h"

/* Whole-run timings of each stream set: rounds (the sets alternate within a round) x timings a round. On a host whose
 * other guests take a core for a second at a time, 3 x 2 let one burst decide: MobileNetV2 builds kept 0, 1 or 3
 * streams at random (the sets' best runs 4.0-4.3 ms with block 1 streamed, 4.2-5.3 with none); 5 x 3 costs ~0.3 s
 * more on MobileNetV2. */
#define STREAM_ROUNDS 5
#define STREAM_TIMINGS 3
/* A first round longer than this (MobileNetV2 at batch 8 on one thread: ~2 s) drops to 3 rounds of 2. */
#define STREAM_LONG_ROUND_MS 400.0

/* Expansion outputs below this (a sample) are not streamed... */
#define KILN_STREAM_MIN_BYTES (256 * 1024)
/* ...unless the pair has no projection after it and its threads split channels (kiln_stream_csplit: nothing is
 * recomputed, whole-map gemm tiles), down to this: EfficientNet-B0's 7x7x1152 pairs (225 KiB) run 1-2% faster
 * streamed as a whole network. */
#define KILN_STREAM_MIN_CSPLIT_BYTES (96 * 1024)

/* The depthwise tactic a streamed pair runs with (the row sweep the streamed kernel calls), or -1. */
static int stream_dw_tactic(const kiln_graph *g, int i, int t_expand, int t_dw)
{
    if (kiln_stream_tactics_ok(g, i, t_expand, t_dw)) return t_dw;
    const int t = kiln_cpu_tactic_find(KILN_OP_CONV2D, "conv_dw_rows_avx512");
    return t > 0 && kiln_cpu_tactic_usable(g, &g->nodes[i + 1], t) && kiln_stream_tactics_ok(g, i, t_expand, t) ? t : -1;
}

/* The 1x1 conv tactic a stream runs with: the chosen one when it is a gemm with the 16- or 32-wide panels the
 * streamed kernels call row by row, else the AVX-512 14x32 gemm (e.g. for a layer timed faster alone on AMX or on a
 * 7-row tile). */
static int stream_gemm_tactic(const kiln_graph *g, int i, int t)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)g->nodes[i].op, t);
    if (k && k->run && (k->gemm_nr == 16 || k->gemm_nr == 32) && k->gemm_mr > 0) return t;
    const int c = kiln_cpu_tactic_find((kiln_op)g->nodes[i].op, "conv_gemm_avx512_14x32");
    return c > 0 && kiln_cpu_tactic_usable(g, &g->nodes[i], c) ? c : t;
}

/* The tactic a streamed stem runs with: the AVX-512 direct kernel (the one the streamed kernel calls row by row). */
static int stream_stem_tactic(const kiln_graph *g, int i, int t)
{
    const int c = kiln_cpu_tactic_find(KILN_OP_CONV2D, "conv_direct_avx512");
    return c > 0 && kiln_cpu_tactic_usable(g, &g->nodes[i], c) ? c : t;
}

/* Candidates into flags[] (1 on the expansion) and the tactics their layers run with when streamed into
 * dw_tactic[]; returns how many. */
static int mark(const kiln_engine *e, const kiln_build_options *o, int32_t *flags, int32_t *dw_tactic)
{
    const kiln_graph *g = e->g;
    int n = 0;
    const char *env = getenv("KILN_STREAM_MIN_KB"); /* experiments: the candidate threshold */
    const int64_t min_bytes = env ? atoll(env) * 1024 : KILN_STREAM_MIN_BYTES;
    for (int i = 0; i < g->n_nodes; i++) flags[i] = 0, dw_tactic[i] = e->layers[i].tactic;
    for (int i = 0; i + 1 < g->n_nodes; i++) {
        const kiln_value *y = &g->values[g->nodes[i].output];
        if (e->layers[i].backend != 0 || e->layers[i + 1].backend != 0 || e->value_pitch[g->nodes[i].output]) continue;
        const int64_t bytes = kiln_value_numel(y) * (int64_t)sizeof(float);
        const int small = o->stream <= 0 && bytes < min_bytes;
        if (small && bytes < KILN_STREAM_MIN_CSPLIT_BYTES) continue;
        /* a fold keeps the conv's own tactic when it can (a gemm or AMX) */
        int t_next = e->layers[i + 1].tactic;
        if (!kiln_se_fold_tactics_ok(g, i, e->layers[i].tactic, t_next)) t_next = stream_gemm_tactic(g, i + 1, t_next);
        if (kiln_se_fold_tactics_ok(g, i, e->layers[i].tactic, t_next)) {
            flags[i] = 2; /* a squeeze-excite whose product the next 1x1 conv computes as it reads it */
            dw_tactic[i + 1] = t_next;
            n++;
            i++;
            continue;
        }
        /* a depthwise conv timed faster alone with another kernel still streams with the row sweep */
        const int t_exp = kiln_stream_stem(g, i) ? stream_stem_tactic(g, i, e->layers[i].tactic)
                                                 : stream_gemm_tactic(g, i, e->layers[i].tactic);
        const int t_dw = stream_dw_tactic(g, i, t_exp, e->layers[i + 1].tactic);
        if (t_dw < 0) continue;
        /* the projection after it too, when it can (its output row computed as soon as the depthwise row is) */
        const int t_proj = i + 2 < g->n_nodes ? stream_gemm_tactic(g, i + 2, e->layers[i + 2].tactic) : -1;
        const int triple = i + 2 < g->n_nodes && e->layers[i + 2].backend == 0 &&
                           !e->value_pitch[g->nodes[i + 1].output] && kiln_stream_triple_tactics_ok(g, i, t_exp, t_dw, t_proj);
        const kiln_cpu_tactic *ke = kiln_cpu_tactic_get(KILN_OP_CONV2D, t_exp);
        if (small && (triple || !ke || !kiln_stream_csplit(g, i, ke->gemm_nr, e->threads))) continue;
        flags[i] = 1, dw_tactic[i] = t_exp, dw_tactic[i + 1] = t_dw;
        n++;
        if (triple) {
            flags[i] = 3;
            dw_tactic[i + 2] = t_proj;
            i++;
        }
        i++; /* the depthwise conv is not an expansion */
    }
    return n;
}

/* Streams on (flags and their depthwise tactics) or off (the tactics as chosen, kept[]), then plan and prepare. */
static kiln_status apply(kiln_engine *e, const kiln_build_options *o, const int32_t *flags, const int32_t *tactics)
{
    for (int i = 0; i < e->g->n_nodes; i++) {
        e->layers[i].stream = flags ? flags[i] : 0;
        e->layers[i].tactic = tactics[i];
        e->layers[i].workspace = (int64_t)kiln_cpu_tactic_workspace(e->g, &e->g->nodes[i], tactics[i], e->batch_max);
    }
    kiln_status st = kiln_engine_plan(e, o, NULL);
    return st ? st : kiln_cpu_engine_prepare(e);
}

/* The candidates whose first layer's output has at least `min` bytes (a sample) in f[] with their stream tactics,
 * every other layer with its own tactic (kept[]) in t[]; returns how many. */
static int subset(const kiln_engine *e, const int32_t *flags, const int32_t *with_t, const int32_t *kept, int64_t min,
                  int32_t *f, int32_t *t)
{
    const kiln_graph *g = e->g;
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) f[i] = 0, t[i] = kept[i];
    for (int i = 0; i < g->n_nodes; i++) {
        if (!flags[i] || kiln_value_numel(&g->values[g->nodes[i].output]) * (int64_t)sizeof(float) < min) continue;
        f[i] = flags[i];
        for (int k = i; k < g->n_nodes && k <= i + (flags[i] == 3 ? 2 : 1); k++) t[k] = with_t[k];
        n++;
    }
    return n;
}

/* Up to 4 thresholds on the candidates' output sizes, largest first: each stream set is "every candidate at least
 * this big", the last one all of them. */
static int thresholds(const kiln_engine *e, const int32_t *flags, int64_t *th)
{
    const kiln_graph *g = e->g;
    int64_t sizes[64];
    int ns = 0;
    for (int i = 0; i < g->n_nodes && ns < 64; i++) {
        if (!flags[i]) continue;
        const int64_t b = kiln_value_numel(&g->values[g->nodes[i].output]) * (int64_t)sizeof(float);
        int seen = 0;
        for (int k = 0; k < ns; k++) seen |= sizes[k] == b;
        if (!seen) sizes[ns++] = b;
    }
    for (int a = 0; a < ns; a++) /* descending */
        for (int b = a + 1; b < ns; b++)
            if (sizes[b] > sizes[a]) {
                const int64_t x = sizes[a];
                sizes[a] = sizes[b], sizes[b] = x;
            }
    const int m = ns < 4 ? ns : 4;
    for (int k = 0; k < m; k++) th[k] = sizes[(int64_t)(k + 1) * ns / m - 1]; /* th[m - 1]: the smallest */
    return m;
}

kiln_status kiln_choose_streams(kiln_engine *e, const kiln_build_options *o)
{
    for (int i = 0; i < e->g->n_nodes; i++) e->layers[i].stream = 0;
    if (o->device != KILN_DEVICE_CPU || o->stream < 0 || o->tactics == KILN_TACTICS_REFERENCE) return KILN_OK;
    const size_t sz = sizeof(int32_t) * ((size_t)e->g->n_nodes + 1);
    int32_t *flags = malloc(sz), *with_t = malloc(sz), *kept = malloc(sz), *f = malloc(sz), *t = malloc(sz);
    if (!flags || !with_t || !kept || !f || !t) {
        free(flags);
        free(with_t);
        free(kept);
        free(f);
        free(t);
        return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory choosing row streaming");
    }
    for (int i = 0; i < e->g->n_nodes; i++) kept[i] = e->layers[i].tactic;
    const int n = mark(e, o, flags, with_t);
    kiln_status st = n ? apply(e, o, flags, with_t) : KILN_OK;
    if (!st && n && o->stream == 0 && o->tactics == KILN_TACTICS_TIMED) {
        /* Whole runs of nested stream sets (the largest expansion outputs first, then smaller ones too) and of none,
         * alternating in STREAM_ROUNDS rounds of STREAM_TIMINGS timings (each the best of 2 runs after a warm-up); the
         * fastest set by its best timing is kept
         * (a streamed pair runs its 1x1 convs on the 14x32 gemm, so where a layer alone is faster on AMX, e.g.
         * MobileNetV2's 14x14 blocks, streaming only the large blocks wins: 2.8 vs 3.2 ms with all or none). */
        int64_t th[5];
        const int m = thresholds(e, flags, th);
        th[m] = INT64_MAX; /* none */
        double best[5];
        int count[5];
        for (int k = 0; k <= m; k++) best[k] = -1.0;
        int rounds = STREAM_ROUNDS, timings = STREAM_TIMINGS;
        const double t_start = kiln_layer_clock_ms();
        for (int r = 0; r < rounds && !st; r++) {
            /* long runs (large batches, one thread) get the old 3 rounds of 2: the build stays within seconds */
            if (r == 1 && kiln_layer_clock_ms() - t_start > STREAM_LONG_ROUND_MS) rounds = 3, timings = 2;
            for (int k = 0; k <= m && !st; k++) {
                count[k] = subset(e, flags, with_t, kept, th[k], f, t);
                if ((st = apply(e, o, f, t))) break;
                for (int q = 0; q < timings; q++) {
                    const double ms = kiln_build_time_engine(e, 2026u);
                    if (ms > 0 && (best[k] < 0 || ms < best[k])) best[k] = ms;
                }
            }
        }
        /* the fastest set, unless none is 2% faster still: where the timings cannot tell them apart (bursts of
         * load), streaming keeps its smaller memory traffic */
        int win = -1;
        for (int k = 0; k < m; k++)
            if (best[k] > 0 && (win < 0 || best[k] < best[win])) win = k;
        if (win < 0 || (best[m] > 0 && best[m] < 0.98 * best[win])) win = m;
        if (o->verbose && !st) {
            fprintf(stderr, "kiln: row streaming / squeeze-excite folding: %d candidate pair%s; runs", n,
                    n == 1 ? "" : "s");
            for (int k = 0; k <= m; k++) fprintf(stderr, " %.2f ms (%d)", best[k], count[k]);
            fprintf(stderr, "; kept %d\n", count[win]);
        }
        subset(e, flags, with_t, kept, th[win], f, t);
        if (!st) st = apply(e, o, f, t);
    } else if (!st && n && o->verbose) {
        fprintf(stderr, "kiln: row streaming / squeeze-excite folding of %d layer pair%s\n", n, n == 1 ? "" : "s");
    }
    free(flags);
    free(with_t);
    free(kept);
    free(f);
    free(t);
    return st;
}
