/* Engine-level use of the CPU tactics: choosing each layer's tactic at build time (timed or heuristic, with a timing
 * cache), preparing an engine to run here (resolving ISA fallbacks and packing weights, at build and at load), and
 * running one layer. */
#ifndef KILN_CPU_ENGINE_TACTICS_H
#define KILN_CPU_ENGINE_TACTICS_H

#include "../runtime/engine_internal.h"
#include "../runtime/threadpool.h"
#include "kernel.h"

/* Choose layers[i].tactic for every CPU layer (backend 0) as opt->tactics says, set layers[i].workspace and
 * e->workspace_bytes. Timed mode reads and rewrites opt->timing_cache when set. */
kiln_status kiln_cpu_choose_tactics(kiln_engine *e, const kiln_build_options *opt);
/* Resolve every layer's recorded tactic to one that runs on this CPU, pack the weights those need and size the
 * workspace (e->workspace_bytes). Called by the builder and the loader; owns e->cpu (freed by the release call). */
kiln_status kiln_cpu_engine_prepare(kiln_engine *e);
/* Fill x[0..n) with uniform numbers in [-1, 1) from a linear congruential generator advanced in *seed (synthetic
 * inputs for timing runs: tactics here, whole runs in build_pass_batch.c). */
void kiln_cpu_fill_uniform(float *x, int64_t n, uint32_t *seed);
/* The timing cache's samples-per-pass choice for this network (o->timing_cache), or -1 when it has none. */
int kiln_cpu_cached_pass_batch(const kiln_engine *e, const kiln_build_options *o);
/* Record it (no-op without o->timing_cache). */
kiln_status kiln_cpu_cache_pass_batch(const kiln_engine *e, const kiln_build_options *o, int pass_batch, double ms);
void kiln_cpu_engine_release(kiln_engine *e);
/* The tactic that runs layer i here (differs from layers[i].tactic after an ISA fallback). */
int kiln_cpu_engine_run_tactic(const kiln_engine *e, int layer);
/* "" or one line saying how many layers fall back to which ISA and why. Owned by the engine. */
const char *kiln_cpu_engine_note(const kiln_engine *e);
/* 1 when layer i is an expansion conv that streams into layer i + 1 on this CPU, 3 when layer i + 2 (the projection)
 * streams too, 2 when layer i is a squeeze-excite folded into layer i + 1 (stream.h); else 0. */
int kiln_cpu_engine_streams(const kiln_engine *e, int layer);
/* Layers a stream step covers after layer i: 2 for stream 3, else 1 (0 when it does not stream here). */
static inline int kiln_cpu_stream_span(int streams) { return streams == 3 ? 2 : streams ? 1 : 0; }
/* Run layers i .. i + span streamed (kiln_cpu_engine_streams): their kernel arguments (pa: layer i + 2 for stream 3,
 * else NULL), da->workspace for all. */
void kiln_cpu_engine_run_stream(const kiln_engine *e, int layer, const kiln_kernel_args *ea,
                                const kiln_kernel_args *da, const kiln_kernel_args *pa, kiln_threadpool *pool);
/* Compute layer i with its resolved tactic. */
void kiln_cpu_engine_run_layer(const kiln_engine *e, int layer, const kiln_kernel_args *a, kiln_threadpool *pool);

/* The timing cache file (--timing-cache) for other tactic choosers (the CUDA layers, src/runtime/build_cuda.c): lines
 * "KEY NAME US" after a "kiln-timing-cache 1" line; CPU and GPU entries share one file (their keys differ).
 * open: never fails (a missing or foreign file is an empty cache); NULL only when out of memory. Owned by the caller:
 * close saves it to path when entries were added (path NULL: nothing saved) and frees it. */
typedef struct kiln_timing_cache_s kiln_timing_cache;
kiln_timing_cache *kiln_timing_cache_open(const char *path);
/* The name stored for key (and its time in us), or NULL. Valid until the next put or close. */
const char *kiln_timing_cache_get(const kiln_timing_cache *c, uint64_t key, double *us);
void kiln_timing_cache_put(kiln_timing_cache *c, uint64_t key, const char *name, double us);
kiln_status kiln_timing_cache_close(kiln_timing_cache *c, const char *path);
/* FNV-1a step over the 8 bytes of x: keys are built from a layer's signature with it. Start from 0xcbf29ce484222325. */
uint64_t kiln_timing_key_mix(uint64_t h, int64_t x);

#endif
