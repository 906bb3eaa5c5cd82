/* The CUDA backend hook: the table of functions build/libkiln_cuda.so exports, and how libkiln loads it.
 *
 * libkiln never links CUDA. Only when an engine is built for, or loaded with, the CUDA target does it dlopen()
 * libkiln_cuda.so ($KILN_CUDA_LIB, else next to libkiln.so, else next to the running program) and call
 * kiln_cuda_backend() for this table. The backend sees the engine's optimized graph (same IR as the CPU: NHWC,
 * constants in the CPU weight layouts) and owns everything on the GPU: weights, activations, cuDNN/cuBLAS handles,
 * CUDA graphs. It never calls back into libkiln, so it loads into the static CLI as well as beside libkiln.so.
 *
 * Errors: every function returns 0 on success, else non-zero with a one-line reason in err (naming the layer). */
#ifndef KILN_RUNTIME_BACKEND_CUDA_H
#define KILN_RUNTIME_BACKEND_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "../core/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_CUDA_ABI 3 /* 2: context_run_timed; 3: per-layer precision (layer_fp32), cached tactics in, layer times */
/* Engine target of a CUDA engine: KILN_TARGET_CUDA_BASE + SM version (90 for H100, sm_90). */
#define KILN_TARGET_CUDA_BASE 0x1000u
#define KILN_TARGET_IS_CUDA(t) ((t) >= KILN_TARGET_CUDA_BASE && (t) < KILN_TARGET_CUDA_BASE + 0x1000u)

/* Layer timings of one context (filled by bench; milliseconds per run, averaged). */
typedef struct {
    double h2d_ms, compute_ms, d2h_ms, enqueue_ms;
} kiln_cuda_timing;

typedef struct kiln_cuda_backend_api_s {
    int abi; /* KILN_CUDA_ABI */
    /* The GPU this process would use: SM version (e.g. 90) and its name. */
    int (*probe)(int *sm, char *name, size_t name_cap, char *err, size_t err_cap);
    /* Build time: check that every node of g runs on the GPU and choose each layer's tactic by timing candidates on
     * this GPU for batch_max. fp16: 1 for FP16 storage; layer_fp32[i] (NULL: none) = 1 keeps node i in FP32 inside an
     * FP16 engine (FP32 weights, FP32 activations, casts at the boundaries). tactic[i] on entry: a tactic already known
     * for node i (the timing cache), kept when valid, or 0 = choose it; on return the tactic of every node.
     * layer_ms[i] (NULL: not wanted): GPU ms of node i's chosen tactic when it was timed now, else -1. */
    int (*choose_tactics)(const kiln_graph *g, int fp16, const uint8_t *layer_fp32, int batch_max, int32_t *tactic,
                          float *layer_ms, char *err, size_t err_cap);
    /* One execution context: uploads the weights (converted to FP16 when fp16, except layer_fp32 layers), allocates the
     * activation arena, workspaces and pinned host staging for batch_max once, captures CUDA graphs. *state is owned
     * by the caller (context_free). */
    int (*context_create)(const kiln_graph *g, int fp16, const uint8_t *layer_fp32, int batch_min, int batch_max,
                          const int32_t *tactic, void **state, char *err, size_t err_cap);
    /* Run `batch` samples: host float32 inputs/outputs in graph order (dense NHWC, batch first). No allocation. */
    int (*context_run)(void *state, const float *const *inputs, float *const *outputs, int batch, char *err,
                       size_t err_cap);
    /* Time `iters` runs of `batch` (after warm-up): host->device copy, compute (the CUDA graph alone), device->host,
     * and the host cost of enqueuing one run. */
    int (*context_bench)(void *state, int batch, int iters, kiln_cuda_timing *t, char *err, size_t err_cap);
    void (*context_free)(void *state);
    /* context_run with trtexec's per-run split (kiln bench --device cuda): CUDA events on the context's stream
     * around the H2D copies, the compute (the CUDA graph launch) and the D2H copies give ms[0] = H2D, ms[1] = GPU
     * compute, ms[2] = D2H; ms[3] = enqueue, the host time to stage the inputs and launch all three (until the
     * last launch returns, before waiting). Events are created on the first call and kept; no other allocation. */
    int (*context_run_timed)(void *state, const float *const *inputs, float *const *outputs, int batch, float ms[4],
                             char *err, size_t err_cap);
    /* context_run_timed launched layer by layer (no CUDA graph) with CUDA events around every layer: layer_ms[i] = GPU
     * ms of node i (0 for a node fused into another's kernel, e.g. a residual Add). kiln bench --dumpProfile. */
    int (*context_run_layers)(void *state, const float *const *inputs, float *const *outputs, int batch,
                              float *layer_ms, float ms[4], char *err, size_t err_cap);
} kiln_cuda_backend_api;

/* Exported by libkiln_cuda.so. */
const kiln_cuda_backend_api *kiln_cuda_backend(void);
typedef const kiln_cuda_backend_api *(*kiln_cuda_backend_fn)(void);

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
#include "kiln.h"
/* libkiln side (backend_cuda.c): load the backend once per process. *api stays valid for the process's lifetime. */
kiln_status kiln_cuda_load(const kiln_cuda_backend_api **api);
#endif

#endif
