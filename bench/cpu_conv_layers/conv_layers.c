/* Per-layer GEMM efficiency: every usable optimized conv tactic on one convolution shape (NHWC, batch 1, ReLU,
 * "same" padding), best of 15 interleaved runs, in GFLOP/s and as a fraction of one core's measured FMA peak
 * (kiln_cpu_peak_gflops: independent vfmadd231ps chains). Weights (up to 9.4 MiB for ResNet50's 3x3x512x512) are re-read every
 * run, so large layers include their memory traffic, as in a real inference.
 *
 *   cmake --build build --target kiln_static    # libkiln.a
 *   gcc -O2 -std=gnu11 -Isrc -Iinclude -Itests/unit bench/cpu_conv_layers/conv_layers.c build/libkiln.a \
 *       $(pkg-config --libs hdf5 libcjson libturbojpeg libpng zlib) -lpthread -lm -o /tmp/conv_layers
 *   /tmp/conv_layers                 # the ResNet50 shapes below
 *   /tmp/conv_layers H W Cin Cout K S [threads [groups]]   (groups = Cin = Cout: a depthwise conv)
 *   KILN_BENCH_COLD=1 /tmp/conv_layers ...   packed weights flushed from every cache level before each run (as in a
 *                                            whole network at batch 1, where a layer's weights come from memory)
 *   KILN_BENCH_COLD=2 /tmp/conv_layers ...   flushed, read back, then 4 MiB of other data read: the weights in L3 but
 *                                            not in L2 (a layer whose weights stay in the shared L3 between runs)
 *   KILN_BENCH_INPUT=l3 /tmp/conv_layers ...  the input rewritten and pushed out of L2 before each run (in L3, as a
 *                                            large activation the layer before just wrote)
 *   KILN_BENCH_INPUT=mem /tmp/conv_layers ... the input flushed to memory before each run (as a tactic timing run found it
 *                                            after a slow candidate, before engine_tactics.c touched its inputs)
 *   KILN_BENCH_OUTPUT=mem /tmp/conv_layers ... the output flushed to memory before each run (a large activation
 *                                            whose lines left every cache since the last run: its stores miss)
 *   KILN_BENCH_IN_OFFSET=B /tmp/conv_layers ...  the input B bytes past a page boundary (16: a caller's malloc'd buffer)
 *   KILN_BENCH_OUT_OFFSET=B /tmp/conv_layers ... the output B bytes past a page boundary, the input on one (4K aliasing)
 *   KILN_BENCH_TACTIC=NAME KILN_BENCH_RUNS=N /tmp/conv_layers ...   only tactics whose name contains NAME, N runs
 *                                            each (default 15): for perf stat / perf record on one kernel
 *   KILN_BENCH_ACT=swish /tmp/conv_layers ...  swish (x * sigmoid(x), EfficientNet's) instead of ReLU
 *   KILN_BENCH_RES=sep|inplace /tmp/conv_layers ...  with a residual input (ResNet's fused add): its own buffer, or
 *                                            the output's bytes (written over, as the planner does when it dies)
 */
#include <immintrin.h>
#include <time.h>

#include "core/big_alloc.h"
#include "cpu/cpu_features.h"
#include "cpu/tactics.h"
#include "runtime/threadpool.h"
#include "test_engine_util.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static void run_shape(int H, int W, int Cin, int Cout, int K, int S, int groups, kiln_threadpool *pool, double peak)
{
    kiln_graph *g = kiln_graph_new();
    int64_t xd[4] = { 1, H, W, Cin }, wd[4] = { K, K, Cin / groups, Cout }, bd[1] = { Cout };
    int x = kiln_graph_add_input(g, "x", 4, xd);
    /* KILN_BENCH_RES=sep: a residual input (ResNet's fused add) in its own buffer; =inplace: the output's own bytes
     * (as planned when the residual dies at the conv: plan.h res_in_place) */
    const char *res_mode = getenv("KILN_BENCH_RES");
    const int64_t OHr = (H + S - 1) / S, OWr = (W + S - 1) / S;
    int64_t rd[4] = { 1, OHr, OWr, Cout };
    int ins[4] = { x, t_const(g, "w", 4, wd, -1, 1), t_const(g, "b", 1, bd, -1, 1),
                   res_mode ? kiln_graph_add_input(g, "r", 4, rd) : -1 };
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.kernel[0] = at.kernel[1] = K;
    at.stride[0] = at.stride[1] = S;
    at.pads[0] = at.pads[1] = at.pads[2] = at.pads[3] = K / 2;
    at.act = kiln_act_relu();
    if (getenv("KILN_BENCH_ACT") && !strcmp(getenv("KILN_BENCH_ACT"), "swish")) at.act.kind = KILN_ACT_SWISH;
    at.groups = groups;
    int y = kiln_graph_add_node(g, KILN_OP_CONV2D, "conv", ins, res_mode ? 4 : 3, &at);
    if (y < 0) {
        fprintf(stderr, "conv_layers: %s\n", kiln_last_error());
        exit(1);
    }
    const kiln_node *n = &g->nodes[g->n_nodes - 1];
    const int64_t out_n = kiln_value_numel(&g->values[y]);
    const double flop = 2.0 * (double)out_n * K * K * (Cin / groups);
    /* 64-byte aligned, as an engine's arena: a malloc'd block of this size starts 16 bytes into a page, and then
     * every vector load of an NHWC pixel spans two cache lines */
    /* input and output page-aligned, the output KILN_BENCH_OUT_OFFSET bytes (a multiple of 64) past its page: their
     * addresses modulo 4 KiB decide which loads wait on earlier stores to the same low 12 bits (4K aliasing) */
    const size_t out_off = getenv("KILN_BENCH_OUT_OFFSET") ? (size_t)atol(getenv("KILN_BENCH_OUT_OFFSET")) / 64 * 64 % 4096 : 0;
    /* KILN_BENCH_IN_OFFSET=B: the input B bytes (a multiple of 4) past a page boundary, as a caller's malloc'd
     * buffer (glibc puts a large block 16 bytes into a page) */
    const size_t in_off = getenv("KILN_BENCH_IN_OFFSET") ? (size_t)atol(getenv("KILN_BENCH_IN_OFFSET")) / 4 * 4 % 4096 : 0;
    char *in_mem = aligned_alloc(4096, (sizeof(float) * (size_t)H * W * Cin + 4096 + 4095) / 4096 * 4096);
    float *in = (float *)(in_mem + in_off);
    char *out_mem = aligned_alloc(4096, (sizeof(float) * (size_t)out_n + 4096 + 4095) / 4096 * 4096);
    float *out = (float *)(out_mem + out_off);
    float *res = res_mode ? aligned_alloc(64, (sizeof(float) * (size_t)out_n + 63) / 64 * 64) : NULL;
    for (int64_t i = 0; res && i < out_n; i++) res[i] = out[i] = 0.0f;
    for (int64_t i = 0; i < (int64_t)H * W * Cin; i++) in[i] = (float)(i % 7) * 0.1f;
    int cnt;
    kiln_cpu_tactics(KILN_OP_CONV2D, &cnt);
    void *packed[64] = { 0 }, *ws[64] = { 0 };
    const char *only = getenv("KILN_BENCH_TACTIC");
    const int runs = getenv("KILN_BENCH_RUNS") ? atoi(getenv("KILN_BENCH_RUNS")) : 15;
    double best[64];
    for (int t = 1; t < cnt && t < 64; t++) {
        best[t] = 1e30;
        if (!kiln_cpu_tactic_usable(g, n, t) || strstr(kiln_cpu_tactic_name(KILN_OP_CONV2D, t), "generic")) continue;
        if (only && !strstr(kiln_cpu_tactic_name(KILN_OP_CONV2D, t), only)) continue;
        const size_t pb = kiln_cpu_tactic_packed_bytes(g, n, t);
        if (pb) kiln_cpu_tactic_pack(g, n, t, packed[t] = kiln_big_alloc(pb)); /* as an engine holds them */
        ws[t] = aligned_alloc(64, (kiln_cpu_tactic_workspace(g, n, t, 1) + 127) / 64 * 64);
    }
    const int cold = getenv("KILN_BENCH_COLD") ? atoi(getenv("KILN_BENCH_COLD")) : 0;
    const size_t evict_bytes = (size_t)4 << 20;
    /* KILN_BENCH_INPUT=l3: the input rewritten, then pushed out of L2 with 4 MiB of other reads before each run (in
     * a network a large activation was just written by the layer before and partly left the producing core's L2) */
    const int input_l3 = getenv("KILN_BENCH_INPUT") && !strcmp(getenv("KILN_BENCH_INPUT"), "l3");
    const int input_mem = getenv("KILN_BENCH_INPUT") && !strcmp(getenv("KILN_BENCH_INPUT"), "mem");
    const int output_mem = getenv("KILN_BENCH_OUTPUT") && !strcmp(getenv("KILN_BENCH_OUTPUT"), "mem");
    float *evict = cold == 2 || input_l3 ? calloc(1, evict_bytes) : NULL;
    for (int rep = 0; rep < runs; rep++)
        for (int t = 1; t < cnt && t < 64; t++) {
            if (!ws[t]) continue;
            kiln_kernel_args a;
            memset(&a, 0, sizeof a);
            a.g = g, a.node = n, a.batch = 1, a.out = out, a.in[0] = in, a.workspace = ws[t];
            a.in[1] = g->values[n->inputs[1]].data, a.in[2] = g->values[n->inputs[2]].data;
            if (res_mode) a.in[3] = !strcmp(res_mode, "inplace") ? out : res;
            if (cold && packed[t]) {
                const char *c = packed[t];
                const size_t pbytes = kiln_cpu_tactic_packed_bytes(g, n, t);
                for (size_t i = 0; i < pbytes; i += 64) _mm_clflush(c + i);
                _mm_mfence();
                if (cold == 2) { /* read back, then push out of L2 with 4 MiB of other reads: the weights in L3 */
                    volatile float sink = 0;
                    float acc = 0;
                    for (size_t i = 0; i < pbytes; i += 64) acc += *(const float *)(c + i);
                    for (size_t i = 0; i < evict_bytes; i += 64) acc += *(const float *)((const char *)evict + i);
                    sink = acc;
                    (void)sink;
                }
            }
            if (input_mem) {
                for (int64_t i = 0; i < (int64_t)H * W * Cin; i += 16) _mm_clflush(in + i);
                _mm_mfence();
            }
            if (output_mem) {
                for (int64_t i = 0; i < out_n; i += 16) _mm_clflush(out + i);
                _mm_mfence();
            }
            if (input_l3) {
                volatile float sink = 0;
                float acc = 0;
                for (int64_t i = 0; i < (int64_t)H * W * Cin; i += 16) in[i] += 0.0f;
                for (size_t i = 0; i < evict_bytes; i += 64) acc += *(const float *)((const char *)evict + i);
                sink = acc;
                (void)sink;
            }
            const double t0 = now_ms();
            kiln_cpu_tactic_run(t, &a, packed[t], pool);
            const double dt = now_ms() - t0;
            if (dt < best[t]) best[t] = dt;
        }
    for (int t = 1; t < cnt && t < 64; t++) {
        if (!ws[t]) continue;
        const double gf = flop / best[t] / 1e6;
        printf("%3dx%-3d %4d->%-4d %dx%d/%d%s  %-24s %8.3f ms %7.1f GFLOP/s", H, W, Cin, Cout, K, K, S, groups > 1 ? " dw" : "",
               kiln_cpu_tactic_name(KILN_OP_CONV2D, t), best[t], gf);
        if (peak > 0) printf("  %3.0f%% of peak", 100.0 * gf / peak);
        printf("\n");
        free(packed[t]);
        free(ws[t]);
    }
    free(evict);
    free(in_mem);
    free(out_mem);
    kiln_graph_free(g);
}

int main(int argc, char **argv)
{
    (void)t_failures; /* test_engine_util.h's counter: unused here */
    const int threads = argc > 7 ? atoi(argv[7]) : 1;
    kiln_threadpool *pool = kiln_threadpool_create(threads);
    const double peak = kiln_cpu_peak_gflops() * threads;
    printf("CPU level %s, %d thread(s), FMA peak %.1f GFLOP/s\n", kiln_isa_name(kiln_cpu_isa()), threads, peak);
    if (argc >= 7) {
        run_shape(atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                  argc > 8 ? atoi(argv[8]) : 1, pool, peak);
    } else {
        static const int shapes[][6] = { /* ResNet50's convolutions at 224x224 (H W Cin Cout K S) */
            { 224, 224, 3, 64, 7, 2 }, { 56, 56, 64, 64, 1, 1 },   { 56, 56, 64, 64, 3, 1 },
            { 56, 56, 64, 256, 1, 1 }, { 56, 56, 256, 64, 1, 1 },  { 28, 28, 128, 128, 3, 1 },
            { 28, 28, 512, 128, 1, 1 }, { 14, 14, 256, 256, 3, 1 }, { 14, 14, 1024, 256, 1, 1 },
            { 14, 14, 256, 1024, 1, 1 }, { 7, 7, 512, 512, 3, 1 },  { 7, 7, 2048, 512, 1, 1 },
            { 7, 7, 512, 2048, 1, 1 },
        };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            run_shape(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4], shapes[i][5], 1, pool, peak);
    }
    kiln_threadpool_free(pool);
    return 0;
}
