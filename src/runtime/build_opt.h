/* The optimizer and memory-planner steps of kiln_engine_build (build.c calls them; build_opt.c). */
#ifndef KILN_RUNTIME_BUILD_OPT_H
#define KILN_RUNTIME_BUILD_OPT_H

#include "engine_internal.h"

/* Run the pass pipeline on e->g with o's switches (disabled_passes, dump_after, verbose) and record the build
 * report (layers_imported, rewrites per pass) in e. */
kiln_status kiln_engine_optimize(kiln_engine *e, const kiln_build_options *o);
/* Plan e->g's activations for e->batch_max: allocates and fills e->value_offset / e->value_pitch, sets
 * e->arena_bytes and e->plan_lower_bound; *sum_bytes = all activations in their own buffers. */
kiln_status kiln_engine_plan(kiln_engine *e, const kiln_build_options *o, int64_t *sum_bytes);
/* CPU engines: set e->pass_batch (samples per pass through the layers) from o->pass_batch, or by timing whole runs
 * at batch_max for 0 (whole batch), 1, 2, 4 (timed tactics; build_pass_batch.c). e must be ready to run. */
kiln_status kiln_choose_pass_batch(kiln_engine *e, const kiln_build_options *o);
/* CPU engines: mark expansion convs streamed into the depthwise conv after them (layers[].stream, src/cpu/stream.h) as
 * o->stream says (build_stream.c), re-plan the memory and re-prepare the engine for them. e must be ready to run. */
kiln_status kiln_choose_streams(kiln_engine *e, const kiln_build_options *o);
/* Whole runs of batch_max on synthetic inputs with e's current tactics, passes and streams: the best of two after a
 * warm-up, in ms; < 0 when a run failed (build_pass_batch.c). */
double kiln_build_time_engine(kiln_engine *e, uint32_t seed);

#endif
