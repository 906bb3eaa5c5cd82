/* kiln side of bench/gpu_vs_pytorch: build a CUDA engine for one fixed batch from a model file (.onnx / .h5) and time
 * it with the backend's own timer (CUDA events around back-to-back CUDA-graph launches; copies timed separately).
 *
 *   kiln_gpu_bench MODEL --batch N [--fp16] [--iters K] [--label NAME]
 *
 * Prints one JSON line: model, batch, precision, build seconds, compute/h2d/d2h/enqueue milliseconds per run and
 * images/s of compute. Links libkiln statically; the GPU is reached through build/libkiln_cuda.so (dlopen). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"
#include "runtime/backend_cuda.h"
#include "runtime/engine_internal.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *label = NULL;
    int batch = 1, fp16 = 0, iters = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
        else if (!strcmp(argv[i], "--fp16")) fp16 = 1;
        else model = argv[i];
    }
    if (!model || batch < 1) {
        fprintf(stderr, "usage: kiln_gpu_bench MODEL --batch N [--fp16] [--iters K] [--label NAME]\n");
        return 2;
    }
    kiln_network *net = NULL;
    kiln_engine *e = NULL;
    kiln_context *c = NULL;
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.device = KILN_DEVICE_CUDA;
    o.precision = fp16 ? KILN_PRECISION_FP16 : KILN_PRECISION_FP32;
    o.batch_min = o.batch_max = batch;
    double t0 = now_s();
    kiln_status st = kiln_network_import(model, &net);
    if (!st) st = kiln_engine_build(net, &o, &e);
    double build_s = now_s() - t0;
    if (!st) st = kiln_context_create(e, &c);
    if (st) {
        fprintf(stderr, "kiln_gpu_bench: %s: %s\n", model, kiln_last_error());
        printf("{\"model\": \"%s\", \"batch\": %d, \"error\": \"kiln failed (see stderr)\"}\n", label ? label : model, batch);
        return 1;
    }
    kiln_cuda_timing t;
    char err[512] = "";
    if (c->gpu_api->context_bench(c->gpu, batch, iters, &t, err, sizeof err)) {
        fprintf(stderr, "kiln_gpu_bench: %s\n", err);
        return 1;
    }
    int layers = 0;
    for (int i = 0; i < e->g->n_nodes; i++) layers++;
    printf("{\"model\": \"%s\", \"batch\": %d, \"precision\": \"%s\", \"layers\": %d, \"build_s\": %.2f, "
           "\"compute_ms\": %.4f, \"h2d_ms\": %.4f, \"d2h_ms\": %.4f, \"enqueue_ms\": %.4f, \"images_per_s\": %.1f}\n",
           label ? label : model, batch, fp16 ? "fp16" : "fp32", layers, build_s, t.compute_ms, t.h2d_ms, t.d2h_ms,
           t.enqueue_ms, batch * 1000.0 / t.compute_ms);
    kiln_context_free(c);
    kiln_engine_free(e);
    kiln_network_free(net);
    return 0;
}
