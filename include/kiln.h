/* kiln — inference optimizer and runtime for trained image classifiers.
 *
 * Three opaque handles:
 *   kiln_network  an imported model (Keras .h5/.keras or ONNX; format detected from the file's content)
 *   kiln_engine   an optimized, immutable engine: built from a network or loaded (mmap) from an engine file
 *   kiln_context  per-thread execution state (activation arena, bound buffers); many contexts share one engine
 *
 * Every call returns a kiln_status; on failure kiln_last_error() says what went wrong, naming the file, the layer and
 * the reason. The library never exits or aborts on bad input.
 *
 * Example (compiled as a test from the lines between the markers; error handling shortened):
 *
 * EXAMPLE BEGIN
#include <kiln.h>
#include <stdio.h>
#include <stdlib.h>

int classify(const char *model_path, const float *image_nhwc)
{
    kiln_network *net = NULL;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    kiln_build_options opt;
    kiln_build_options_init(&opt);          // FP32, batch 1, 1 thread

    if (kiln_network_import(model_path, &net) != KILN_OK ||
        kiln_engine_build(net, &opt, &engine) != KILN_OK ||
        kiln_context_create(engine, &ctx) != KILN_OK) {
        fprintf(stderr, "kiln: %s\n", kiln_last_error());
        kiln_network_free(net);
        kiln_engine_free(engine);
        return -1;
    }
    kiln_tensor_info out;
    kiln_engine_output_info(engine, 0, &out);   // e.g. "Logits", [batch, 1000]
    float *probs = malloc(sizeof(float) * (size_t)out.dims[1]);
    kiln_context_bind_input(ctx, 0, image_nhwc);
    kiln_context_bind_output(ctx, 0, probs);
    int best = -1;
    if (kiln_context_run(ctx, 1) == KILN_OK) {
        best = 0;
        for (int i = 1; i < out.dims[1]; i++)
            if (probs[i] > probs[best]) best = i;
    }
    free(probs);
    kiln_context_free(ctx);
    kiln_engine_free(engine);
    kiln_network_free(net);
    return best;
}
 * EXAMPLE END
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0

/* ---- status ---------------------------------------------------------------------------------------------------- */

#define KILN_STATUS_LIST(X)                                         \
    X(OK, "ok")                                                     \
    X(ERR_INVALID_ARGUMENT, "invalid argument")                     \
    X(ERR_IO, "cannot read or write file")                          \
    X(ERR_FORMAT, "malformed file")                                 \
    X(ERR_TRUNCATED, "truncated file")                              \
    X(ERR_CHECKSUM, "checksum mismatch (corrupt file)")             \
    X(ERR_VERSION, "unsupported format version")                    \
    X(ERR_TARGET, "engine built for another target")                \
    X(ERR_UNSUPPORTED, "unsupported model content")                 \
    X(ERR_SHAPE, "shape mismatch")                                  \
    X(ERR_NO_MEMORY, "out of memory")                               \
    X(ERR_INTERNAL, "internal error")

typedef enum {
#define X(e, s) KILN_##e,
    KILN_STATUS_LIST(X)
#undef X
} kiln_status;

/* Static text for a status ("truncated file"). */
const char *kiln_status_string(kiln_status st);
/* The calling thread's last diagnostic: one or more lines, each naming file, layer and reason.
 * Owned by the library; valid until the next kiln call on this thread. */
const char *kiln_last_error(void);

/* ---- tensors ----------------------------------------------------------------------------------------------------- */

typedef enum { KILN_DTYPE_F32 = 0, KILN_DTYPE_F16 = 1 } kiln_dtype;
typedef enum { KILN_LAYOUT_NHWC = 0, KILN_LAYOUT_NC = 1, KILN_LAYOUT_ANY = 2 } kiln_layout;

#define KILN_TENSOR_MAX_RANK 6

typedef struct {
    const char *name;   /* owned by the engine; valid while the engine lives */
    kiln_dtype dtype;
    kiln_layout layout;
    int rank;
    int64_t dims[KILN_TENSOR_MAX_RANK]; /* dims[0] is the batch: the engine's batch_max here */
    int batch_min, batch_max;           /* any batch in [batch_min, batch_max] runs */
    int fixed_shape;    /* 1: a fixed-shape engine (kiln_engine_is_fixed_shape): dims are the model's whole tensor
                         * shape, dims[0] included (no batch axis); buffers hold prod(dims) floats; runs use batch 1 */
} kiln_tensor_info;

/* ---- networks (imported models) ---------------------------------------------------------------------------------- */

typedef struct kiln_network kiln_network;

/* Import a model file; the format is detected from the content (HDF5 -> Keras .h5, zip -> Keras 3 .keras,
 * protobuf ModelProto -> ONNX).
 * On success *out is a new network owned by the caller (free with kiln_network_free).
 * On failure *out is NULL and kiln_last_error() lists every problem found (e.g. all unsupported layers). */
kiln_status kiln_network_import(const char *path, kiln_network **out);
/* Free a network; NULL is allowed. */
void kiln_network_free(kiln_network *net);
/* Human-readable format name of the imported file ("keras-h5"); owned by the network. */
const char *kiln_network_format(const kiln_network *net);
/* NULL for a normal network (axis 0 of every tensor is the run-time batch). For a fixed-shape network (an ONNX model
 * whose nodes use the first axis as data, e.g. Concat over axis 0, imported because every input shape is static), one
 * line saying why, owned by the network: its engines run the model's own shapes only (batch range exactly 1:1). */
const char *kiln_network_fixed_shape(const kiln_network *net);

/* ---- building engines -------------------------------------------------------------------------------------------- */

typedef enum { KILN_PRECISION_FP32 = 0, KILN_PRECISION_FP16 = 1 } kiln_precision;

typedef struct {
    kiln_precision precision; /* FP32; FP16 needs device = KILN_DEVICE_CUDA */
    int batch_min, batch_max; /* batch range the engine accepts; default 1..1 */
    int threads;              /* worker threads at run time; default 1 */
    int verbose;              /* print build steps to stderr */
    const char *disabled_passes; /* comma-separated optimizer pass names to skip ("all": every pass), or NULL */
    const char *dump_after;   /* optimizer pass name (or "all") after which the graph is printed to stderr, or NULL */
    int device;               /* KILN_DEVICE_CPU (default) or KILN_DEVICE_CUDA: the engine runs on the GPU present at
                               * build time (libkiln_cuda.so, loaded at run time; FP16 precision needs CUDA) */
    int tactics;              /* kiln_tactics_mode: KILN_TACTICS_TIMED (default), _HEURISTIC or _REFERENCE */
    const char *timing_cache; /* timed tactics: file of earlier timings, read and updated (NULL: none); a rebuild of
                               * the same model on the same CPU (or the same GPU: CUDA tactics too) then times nothing */
    /* FP16 overflow protection (FP16 CUDA engines only, docs/CUDA.md): the optimized graph runs in FP32 on the CPU over
     * calibration samples; every layer that reads or writes a value above KILN_FP16_SAFE_RANGE stays FP32. */
    const float *calib_data;  /* calibration samples of input 0: dense NHWC float32, batch first (NULL: random samples;
                               * other inputs are always random); borrowed during the build */
    int64_t calib_numel;      /* floats in calib_data: a whole number of input-0 samples */
    float calib_lo, calib_hi; /* range of the random samples used without calib_data (default -1, 1) */
    const char *fp32_layers;  /* comma-separated layer names (a source layer's name, the output name or the full fused
                               * name) kept in FP32 in an FP16 engine whatever their range, or NULL */
    int fast_math;            /* 1: CPU tactics may also use kernels with a larger float32 error than the gemm's;
                               * none at present (Winograd F(4x4) competes in every build since its error came
                               * down to the gemm's over whole networks: docs/PERFORMANCE.md); default 0 */
    int pass_batch;           /* CPU engines with batch_max > 1: samples per pass through the layers (a larger batch
                               * runs as several passes, each layer's data staying in cache); 0 (default) = chosen by
                               * timing whole runs with timed tactics, the whole batch otherwise; N >= 1 forces N */
    int stream;               /* CPU row streaming: an expansion 1x1 conv computed a few rows at a time inside the
                               * depthwise conv that reads it (MobileNet / EfficientNet blocks; its large output
                               * never goes to memory; same results). 0 (default) = where its output is large, kept
                               * when timed whole runs are faster (heuristic builds: always), 1 = every such pair,
                               * -1 = off */
} kiln_build_options;

/* FP16 engines: a layer whose calibration range (max |value| it reads or writes, pre-activation included) exceeds this
 * runs in FP32. FP16 ends at 65504; the 4x headroom covers inputs "hotter" than the calibration samples. */
#define KILN_FP16_SAFE_RANGE 16384.0f

typedef enum { KILN_DEVICE_CPU = 0, KILN_DEVICE_CUDA = 1 } kiln_device;

/* How the builder picks each CPU layer's kernel (kiln_build_options.tactics). */
typedef enum {
    KILN_TACTICS_TIMED = 0,     /* default: time the candidate kernels on this CPU, keep the fastest */
    KILN_TACTICS_HEURISTIC = 1, /* rules on shapes and the CPU's ISA: deterministic, byte-identical engine files */
    KILN_TACTICS_REFERENCE = 2  /* reference kernels only (slow; for checking the others) */
} kiln_tactics_mode;

/* Fill *opt with the defaults above. */
void kiln_build_options_init(kiln_build_options *opt);

typedef struct kiln_engine kiln_engine;

/* Optimize net and build an engine for this machine's CPU. net is only read; it may be freed afterwards.
 * On success *out is a new engine owned by the caller (free with kiln_engine_free). */
kiln_status kiln_engine_build(const kiln_network *net, const kiln_build_options *opt, kiln_engine **out);
/* Write the engine file (docs/ENGINE_FORMAT.md). */
kiln_status kiln_engine_save(const kiln_engine *engine, const char *path);
/* Load an engine file by mmap (weights are used in place, not copied). *out is owned by the caller.
 * Truncated, corrupt, wrong-version and wrong-target files are refused with a message saying which. */
kiln_status kiln_engine_load(const char *path, kiln_engine **out);
/* Free an engine; NULL is allowed. Every context of the engine must be freed first. */
void kiln_engine_free(kiln_engine *engine);

int kiln_engine_num_inputs(const kiln_engine *engine);
/* 1 for a fixed-shape engine (built from a fixed-shape network, see kiln_network_fixed_shape): the tensor infos give
 * the model's own shapes (no batch axis) and kiln_context_run takes batch 1 only. 0 otherwise. */
int kiln_engine_is_fixed_shape(const kiln_engine *engine);
int kiln_engine_num_outputs(const kiln_engine *engine);
/* Threads its contexts run with (the build's kiln_build_options.threads, stored in the engine); 0 for NULL. */
int kiln_engine_num_threads(const kiln_engine *engine);
/* Describe input/output `index`; *info's name points into the engine. */
kiln_status kiln_engine_input_info(const kiln_engine *engine, int index, kiln_tensor_info *info);
kiln_status kiln_engine_output_info(const kiln_engine *engine, int index, kiln_tensor_info *info);
/* Index of the input/output called name, or -1. */
int kiln_engine_find_input(const kiln_engine *engine, const char *name);
int kiln_engine_find_output(const kiln_engine *engine, const char *name);

/* Print a human-readable description (inputs, outputs, layers with source names, parameters, memory) to `out`
 * (a FILE*); as JSON when json != 0. */
kiln_status kiln_engine_describe(const kiln_engine *engine, void *out_file, int json);

/* ---- running ----------------------------------------------------------------------------------------------------- */

typedef struct kiln_context kiln_context;

/* Create an execution context: allocates the activation arena for the engine's batch_max once; run() never allocates.
 * The engine must outlive the context. *out is owned by the caller (free with kiln_context_free). */
kiln_status kiln_context_create(const kiln_engine *engine, kiln_context **out);
void kiln_context_free(kiln_context *ctx);
/* Bind the caller's buffers (float32, dense, the shape of *_info with dims[0] = the batch of the run).
 * Buffers stay owned by the caller and must stay valid until the run returns. */
kiln_status kiln_context_bind_input(kiln_context *ctx, int index, const float *data);
kiln_status kiln_context_bind_output(kiln_context *ctx, int index, float *data);
/* Run the engine on `batch` samples (within the engine's batch range) using the bound buffers. */
kiln_status kiln_context_run(kiln_context *ctx, int batch);
/* trtexec's split of one run (kiln bench). On a GPU engine: CUDA events on the context's stream around the
 * host->device copies, the compute (the CUDA graph) and the device->host copies, and the host time to enqueue them;
 * on_gpu = 1. On a CPU engine there are no copies: enqueue_ms = compute_ms = the host wall time of the run, on_gpu = 0.
 * Latency as trtexec defines it = h2d_ms + compute_ms + d2h_ms. */
typedef struct {
    int on_gpu;
    double enqueue_ms, h2d_ms, compute_ms, d2h_ms;
} kiln_run_timing;
/* kiln_context_run, timed into *timing (owned by the caller). */
kiln_status kiln_context_run_timed(kiln_context *ctx, int batch, kiln_run_timing *timing);

/* ---- layers: profiling and per-layer inspection ------------------------------------------------------------------ */

/* One layer of a built engine (one optimized graph node). Strings are owned by the engine. */
typedef struct {
    const char *name;   /* the source layers fused into it: "conv2d_3 + batch_normalization_3 + activation_3" */
    const char *type;   /* op name: "Conv2D", "Dense", ... */
    const char *output; /* name of the value it writes (the LAST source layer's name; unchanged by fusion, so the same
                         * layer of an optimized and an unoptimized engine of one model writes the same name) */
    int rank;
    int64_t dims[KILN_TENSOR_MAX_RANK]; /* output shape, dims[0] = the engine's batch_max */
    int backend, tactic; /* 0, 0 = CPU reference kernel */
    int precision;       /* kiln_precision the layer runs at (FP16 engines keep overflowing layers in FP32) */
    float range;         /* FP16 engines: max |value| the layer read or wrote on the calibration data; -1 otherwise */
    double flops;        /* floating-point operations per sample of its convolution / dense product (2 per
                          * multiply-add: 2 * OH * OW * Cout * KH * KW * Cin / groups); 0 for other layers */
    int fused_into_next; /* CPU: 1 = in normal runs this layer is computed inside the next one (row streaming of an
                          * expansion conv into the depthwise conv and projection after it, squeeze-excite
                          * folding); runs with a layer callback (per-layer compare) run it on its own so that its
                          * output exists, runs with a layer timer (profiling) run it as normal runs do */
    double kernel_flops; /* 2 x the multiply-adds per sample of the kernel that runs the layer here: `flops` except
                          * for Winograd kernels (tiles x transformed points x Cin x Cout; their transforms' additions
                          * not counted); 0 for layers without a convolution / dense product */
    int64_t weight_bytes; /* bytes of weights the layer's kernel reads per run: its packed weights (gemm panels,
                           * Winograd-transformed sets) where it packs them, else the float32 constant inputs */
} kiln_layer_info;

/* Measured FMA peak of one CPU core at the instruction level kiln uses here (AVX-512 or AVX2 vfmadd231ps chains, ~50
 * ms), in GFLOP/s; 0 where it is not measured (other CPUs). For "% of peak" in `kiln bench --dumpProfile`. */
double kiln_cpu_peak_gflops(void);

int kiln_engine_num_layers(const kiln_engine *engine);
kiln_status kiln_engine_layer_info(const kiln_engine *engine, int index, kiln_layer_info *info);

/* What the layer callback receives right after layer `index` ran inside kiln_context_run. */
typedef struct {
    int index;            /* layer index, execution order */
    int batch;            /* samples in this run */
    double start_ms;      /* CLOCK_MONOTONIC time the layer's kernel started, in ms */
    double ms;            /* its wall time (the callback's own time is not included) */
    const float *output;  /* the layer's output for this run, readable only during the callback (the memory planner
                           * reuses the buffer for later layers); NULL when it is not in host memory */
    int64_t pitch;        /* 0: dense. Else floats between consecutive pixels (output is a channel slice of a wider
                           * buffer): element c of pixel p is output[p * pitch + c] */
} kiln_layer_event;

typedef void (*kiln_layer_callback)(void *user, const kiln_layer_event *event);

/* Call cb(user, event) after every layer of every later run of ctx (NULL cb: off, the default; then no clock is read).
 * Used by `kiln bench --dumpProfile` (timings) and `kiln compare --per-layer` (intermediate tensors). */
kiln_status kiln_context_set_layer_callback(kiln_context *ctx, kiln_layer_callback cb, void *user);
/* The same for timings only (`kiln bench --dumpProfile`): a run goes as unprofiled runs do. Layers that normal runs
 * compute together (kiln_layer_info.fused_into_next) still run together; cb still sees one event per layer, and a
 * group's time goes to its last layer (the others get ms 0 and output NULL). A batch the engine splits into passes
 * (samples per pass, chosen at build) still runs in those passes: each event covers the whole batch, with ms summed
 * over the passes, start_ms the first pass's, and output the last pass's samples only (read it with a callback
 * instead). Replaces a callback set by kiln_context_set_layer_callback and vice versa. */
kiln_status kiln_context_set_layer_timer(kiln_context *ctx, kiln_layer_callback cb, void *user);

#ifdef __cplusplus
}
#endif
#endif
