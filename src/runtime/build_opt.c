/* Optimizer + memory planner steps of the engine build, and the build report they leave in the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "../cpu/tactics.h"
#include "../opt/opt.h"
#include "../plan/plan.h"
#include "build_opt.h"

kiln_status kiln_engine_optimize(kiln_engine *e, const kiln_build_options *o)
{
    kiln_opt_stats s;
    kiln_status st = kiln_opt_run_full(e->g, o->disabled_passes, o->dump_after, o->verbose, &s);
    if (st) return st;
    e->layers_imported = s.nodes_before;
    e->n_pass_stats = 0;
    for (int i = 0; i < kiln_opt_num_passes() && i < 16; i++) {
        snprintf(e->pass_name[i], sizeof e->pass_name[i], "%s", kiln_opt_pass(i)->name);
        e->pass_rewrites[i] = s.rewrites[i];
        e->n_pass_stats = i + 1;
    }
    return KILN_OK;
}

kiln_status kiln_engine_plan(kiln_engine *e, const kiln_build_options *o, int64_t *sum_bytes)
{
    const kiln_graph *g = e->g;
    free(e->value_offset); /* a re-plan (row streaming chosen after the tactics: build_stream.c) */
    free(e->value_pitch);
    e->value_offset = malloc(sizeof(int64_t) * ((size_t)g->n_values + 1));
    e->value_pitch = malloc(sizeof(int64_t) * ((size_t)g->n_values + 1));
    int32_t *first = malloc(sizeof(int32_t) * ((size_t)g->n_nodes + 1)),
            *last = malloc(sizeof(int32_t) * ((size_t)g->n_nodes + 1));
    if (!e->value_offset || !e->value_pitch || !first || !last) {
        free(first);
        free(last);
        return kiln_fail(KILN_ERR_NO_MEMORY, "out of memory planning memory");
    }
    /* a streamed pair (src/cpu/stream.h) runs as one step: the expansion's input stays live through the depthwise
     * conv, whose output must not take its place */
    int streams = 0;
    for (int i = 0; i < g->n_nodes; i++) first[i] = last[i] = i;
    for (int i = 0; i + 1 < g->n_nodes; i++) {
        const int span = e->layers ? (e->layers[i].stream == 3 ? 2 : e->layers[i].stream ? 1 : 0) : 0;
        if (!span || i + span >= g->n_nodes) continue;
        for (int k = i; k <= i + span; k++) first[k] = i, last[k] = i + span;
        streams++;
    }
    kiln_plan_stats ps;
    int concat = kiln_opt_pass_enabled(o->disabled_passes, "eliminate_concat");
    /* in-place reuse goes with the optimizer: --no-fusion ("all") plans one buffer per activation */
    int in_place = kiln_opt_pass_enabled(o->disabled_passes, "in_place");
    /* CPU gemm convs may write over their residual (gemm_variant.inc: the output then holds the first partial sums) */
    uint8_t *res_ip = calloc((size_t)g->n_nodes + 1, 1);
    for (int i = 0; res_ip && e->layers && i < g->n_nodes; i++)
        res_ip[i] = e->layers[i].backend == 0 &&
                    kiln_cpu_tactic_writes_over_residual(g, &g->nodes[i], e->layers[i].tactic);
    kiln_status st = kiln_plan_memory_groups(g, e->batch_max, concat, in_place, streams ? first : NULL,
                                             streams ? last : NULL, res_ip, e->value_offset, e->value_pitch, &ps);
    free(first);
    free(last);
    free(res_ip);
    if (st) return st;
    e->arena_bytes = ps.arena_bytes;
    e->plan_lower_bound = ps.lower_bound;
    if (sum_bytes) *sum_bytes = ps.sum_bytes;
    if (o->verbose)
        fprintf(stderr,
                "kiln: memory plan: %d buffers, arena %lld bytes, lower bound %lld (%.3fx), %d concat(s) in place, %d "
                "copied, %d slice view(s), %d value(s) in place\n",
                ps.n_buffers, (long long)ps.arena_bytes, (long long)ps.lower_bound,
                ps.lower_bound ? (double)ps.arena_bytes / (double)ps.lower_bound : 1.0, ps.concats_in_place,
                ps.concat_copies, ps.slices_in_place, ps.in_place);
    return KILN_OK;
}
