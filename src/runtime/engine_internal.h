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
} kiln_layer;

struct kiln_engine {
    kiln_graph *g;            /* owned; optimized graph. Constants' data point into `weights` (owns_data = 0) */
    kiln_layer *layers;       /* owned; g->n_nodes entries */
    int64_t *value_offset;    /* owned; g->n_values entries: byte offset of each activation in the arena for
                               * batch_max, or -1 (constants, graph inputs and outputs: bound by the caller) */
    int64_t arena_bytes;      /* activation arena for batch_max */
    int64_t workspace_bytes;  /* largest layer workspace for batch_max */
    int32_t batch_min, batch_max;
    int32_t threads;
    int32_t precision;        /* kiln_precision */
    uint32_t target;          /* KILN_TARGET_* */
    char source_format[24];   /* "keras-h5" */
    void *weights;            /* one 64-byte aligned block of every constant; owned unless `map` is set */
    int64_t weights_bytes;
    void *map;                /* mmap of the engine file when loaded, else NULL */
    size_t map_bytes;
};

struct kiln_context {
    const kiln_engine *engine;
    void *arena;              /* owned, 64-byte aligned, arena_bytes */
    void *workspace;          /* owned, 64-byte aligned, workspace_bytes */
    const float **bound_inputs;  /* owned array; caller's buffers */
    float **bound_outputs;       /* owned array; caller's buffers */
    float **value_ptr;        /* owned; per value: data pointer for the current run */
};

/* Target of the machine running this code. */
uint32_t kiln_host_target(void);
const char *kiln_target_name(uint32_t target);

#endif
