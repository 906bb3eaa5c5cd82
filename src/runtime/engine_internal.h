/* The engine and context structures, shared by the builder, the runtime, the engine file reader/writer and the
 * describer. Not part of the public API. */
#ifndef KILN_RUNTIME_ENGINE_INTERNAL_H
#define KILN_RUNTIME_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/graph.h"
#include "kiln.h"

#define KILN_TARGET_CPU_X86_64 1
#define KILN_TARGET_CPU_AARCH64 2

struct kiln_network {
    kiln_graph *g;        /* owned; constants owned by the graph */
    char *source_path;    /* owned */
    char format[24];      /* "keras-h5" */
};

/* Per-layer record of the built engine (one per graph node, same order). */
typedef struct {
    int32_t backend;      /* 0 = CPU */
    int32_t tactic;       /* 0 = reference kernel */
    int64_t workspace;    /* bytes for batch_max */
    int32_t precision;    /* kiln_precision this layer runs at: the engine's, except FP32 layers of an FP16 engine
                           * (calibration range above KILN_FP16_SAFE_RANGE, or named in --fp32-layers) */
    float range;          /* FP16 engines: max |value| the layer read or wrote on the calibration data; else -1 */
    int32_t stream;       /* CPU: 1 = this expansion 1x1 conv is computed row by row inside the next layer, a
                           * depthwise conv (src/cpu/stream.h); 0 = runs on its own */
} kiln_layer;

struct kiln_engine {
    kiln_graph *g;            /* owned; optimized graph. Constants' data point into `weights` (owns_data = 0) */
    kiln_layer *layers;       /* owned; g->n_nodes entries */
    int64_t *value_offset;    /* owned; g->n_values entries: byte offset of each activation in the arena for
                               * batch_max, or -1 (constants, graph inputs and outputs: bound by the caller) */
    int64_t *value_pitch;     /* owned; g->n_values entries: row pitch in floats of memory-planner views (a channel
                               * slice of a wider buffer, src/plan/plan.h), 0 = dense */
    int64_t arena_bytes;      /* activation arena for batch_max */
    int64_t workspace_bytes;  /* largest layer workspace for batch_max */
    int32_t batch_min, batch_max;
    int32_t threads;
    int32_t pass_batch;       /* CPU: samples per pass through the layers (a run of a larger batch walks every layer
                               * on pass_batch samples, then the next ones: each layer's data stays in cache, as at
                               * batch 1); 0 = the whole batch in one pass. Chosen by timing (build_pass_batch.c) */
    int32_t precision;        /* kiln_precision */
    uint32_t target;          /* KILN_TARGET_* */
    char source_format[24];   /* "keras-h5" */
    /* What the optimizer and planner did (engine file v2 "build report"; kiln inspect's summary). */
    int32_t layers_imported;  /* nodes before optimization */
    int32_t n_pass_stats;     /* entries below (<= 16) */
    char pass_name[16][32];   /* optimizer pass names, pipeline order */
    int32_t pass_rewrites[16];/* rewrites each made */
    int64_t plan_lower_bound; /* most activation bytes live at one step (the arena cannot be smaller) */
    void *weights;            /* one 64-byte aligned block of every constant; owned unless `map` is set */
    int64_t weights_bytes;
    void *map;                /* mmap of the engine file when loaded, else NULL */
    struct kiln_cpu_engine *cpu; /* owned; CPU tactics resolved for this machine + packed weights
                                  * (src/cpu/engine_tactics.h), made at build and at load */
    size_t map_bytes;
};

struct kiln_context {
    const kiln_engine *engine;
    void *arena;              /* owned, 64-byte aligned, arena_bytes */
    void *workspace;          /* owned, 64-byte aligned, workspace_bytes */
    const float **bound_inputs;  /* owned array; caller's buffers */
    float **bound_outputs;       /* owned array; caller's buffers */
    float **value_ptr;        /* owned; per value: data pointer for the current run */
    int64_t *sample_floats;   /* owned; per value: floats from one sample to the next (0 for constants) */
    struct kiln_threadpool *pool; /* owned; engine->threads threads (src/runtime/threadpool.h), NULL for 1 */
    void *gpu;                /* owned by the CUDA backend (CUDA engines only; backend_cuda.h), else NULL */
    const struct kiln_cuda_backend_api_s *gpu_api; /* the loaded backend's table when gpu is set */
    kiln_layer_callback layer_cb; /* kiln_context_set_layer_callback (layers.c); NULL = off */
    void *layer_user;
    int layer_times_only;         /* kiln_context_set_layer_timer: streamed groups run as in normal runs */
    double *layer_pass_ms;        /* owned; layer timer: per layer, [0, n) its time summed over a run's passes,
                                   * [n, 2n) its first pass's start (layers.c) */
    kiln_run_timing *timing;  /* set only during kiln_context_run_timed on a GPU engine (borrowed), else NULL */
    float *gpu_layer_ms;      /* owned; GPU engines: per-layer GPU times of the last run with a layer callback */
};

/* Target of the machine running this code. */
uint32_t kiln_host_target(void);
const char *kiln_target_name(uint32_t target);

#endif
