/* What `kiln bench` measured, shared by its text summary (cmd_bench.c), the Chrome trace (trace.c) and the HTML report
 * (report_html.c). Times in milliseconds unless the name says otherwise; everything is owned by cmd_bench.c. */
#ifndef KILN_TOOLS_BENCH_H
#define KILN_TOOLS_BENCH_H

#include <stddef.h>

#include "stats.h"

#define BENCH_MAX_PERCENTILES 8

typedef struct {
    const char *name;    /* fused source-layer names (engine-owned) */
    const char *type;    /* op name */
    double total_ms;     /* sum over the profiled runs */
    double avg_ms;       /* total / runs */
    double median_ms;    /* median over the profiled runs */
    double percent;      /* share of the sum over every layer */
    double gflops;       /* convolution / dense layers: FLOPs of the batch / median time, GFLOP/s; else 0 */
    double kernel_gflops; /* the same with the kernel's own multiply-adds (kiln_layer_info.kernel_flops) */
    double kernel_gflop; /* those multiply-adds for the batch, GFLOP (a streamed group's sum on its last layer) */
    long long weight_bytes; /* kiln_layer_info.weight_bytes */
    int fused_into_next; /* kiln_layer_info.fused_into_next */
} bench_layer;

typedef struct {
    int layer;           /* index into layers[] */
    int run;             /* profiled run it belongs to */
    double start_ms, ms; /* start relative to the first timed run */
} bench_event;

typedef struct {
    const char *model;                 /* the path given */
    const char *target;                /* "CPU x86_64" */
    int batch, threads;
    int warmup_runs;
    double warmup_ms;
    /* timed runs */
    size_t runs;
    double *latency_ms;                /* runs entries, in run order */
    double *start_ms;                  /* runs entries: start of each run relative to the first */
    stats_summary latency;
    int n_percentiles;
    double percentile[BENCH_MAX_PERCENTILES];       /* e.g. 90, 95, 99 */
    double percentile_ms[BENCH_MAX_PERCENTILES];
    double walltime_s;                 /* first start to last end */
    double compute_s;                  /* sum of latencies */
    double throughput_qps;             /* runs / walltime */
    /* per-layer profile (n_layers == 0 when not profiled) */
    size_t profile_runs;
    int separate_profile;
    int n_layers;
    bench_layer *layers;               /* execution order */
    double profile_total_ms, profile_total_median_ms;
    double peak_gflops;                /* CPU engines: measured FMA peak of one core x threads (0: not measured) */
    double direct_gflop, kernel_gflop; /* a batch's convolution / dense FLOPs: as direct products, as the kernels do
                                        * them (Winograd: transformed products) */
    double weight_mb;                  /* weights the kernels read per run, MB (1e6 bytes) */
    bench_event *events;               /* the first traced profiled runs, for --trace */
    size_t n_events;
    size_t traced_runs;
} bench_result;

/* Chrome trace-event JSON (docs/BENCH.md): one complete event ("ph":"X") per layer per traced run on thread 1, one
 * per run on thread 0. Returns 0, or -1 after reporting the error ("kiln: F: ..."). */
int bench_write_trace(const char *path, const bench_result *r);
/* One self-contained HTML page (inline SVG and CSS, no script, no network): summary, latency histogram, per-layer
 * bar chart sorted by time. Returns 0, or -1 after reporting. */
int bench_write_html(const char *path, const bench_result *r);
/* JSON string literal of s (quotes and escapes) to f. */
void bench_json_string(void *file, const char *s);

#endif
