/* kiln bench MODEL_OR_ENGINE: trtexec's timing loop, performance summary, per-layer profile and exports.
 *
 * Warm-up for --warmUp ms, then timed runs until both --iterations runs and --duration seconds are done (trtexec's
 * rule). Latency = wall time of one kiln_context_run (CLOCK_MONOTONIC). Per-layer times come from the layer callback
 * (kiln_context_set_layer_timer: streamed groups run together, as in unprofiled runs), during the timed runs or,
 * with --separateProfileRun, in runs of their own so the timed runs read no per-layer clock. JSON shapes:
 * docs/BENCH.md.
 *
 * On a GPU engine every run goes through kiln_context_run_timed: CUDA events split it into H2D, GPU compute and
 * D2H, the host clock gives the enqueue time, and latency = H2D + compute + D2H (trtexec's definition). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "progress.h"
#include "tensor_io.h"

static const char help[] =
    "usage: kiln bench MODEL_OR_ENGINE [--batch N | --shapes NAME:NxHxWxC] [--iterations N] [--duration S]\n"
    "                  [--warmUp MS] [--avgRuns N] [--percentile P,P,...] [--threads N] [--seed N]\n"
    "                  [--dumpProfile] [--separateProfileRun] [--exportProfile F.json] [--exportTimes F.json]\n"
    "                  [--exportOutput F.json] [--exportLayerInfo F.json] [--trace F.json] [--report F.html]\n"
    "                  [--device cpu|cuda] [--fp16] [--json] [--quiet] [--verbose]\n"
    "\n"
    "Time the engine like trtexec: warm up, run until both --iterations runs and --duration seconds are done, then\n"
    "print '=== Performance summary ===' (throughput, latency min/max/mean/median/percentiles, total host walltime),\n"
    "the coefficient of variation (a warning above 1%) and the 95% confidence interval of the mean latency.\n"
    "Inputs are seeded uniform random numbers in [-1, 1]. A model file is built in memory for --batch.\n"
    "\n"
    "options (trtexec's names):\n"
    "  --batch N              samples per run (default: 1, or the engine's smallest batch)\n"
    "  --shapes NAME:NxHxWxC  the same, trtexec style (only the batch N may differ from the model's shape)\n"
    "  --iterations N         at least N timed runs (default 10)\n"
    "  --duration S           at least S seconds of timed runs (default 3; 0 = only --iterations)\n"
    "  --warmUp MS            warm-up time before timing (default 200)\n"
    "  --avgRuns N            with --verbose, print the average of every N consecutive runs (default 10)\n"
    "  --percentile P,...     latency percentiles to report (default 90,95,99); sorted[N-1-floor((1-P/100)N)]\n"
    "  --threads N            worker threads when building a model in memory (default 1)\n"
    "  --device cpu|cuda      where a model built in memory runs (default cpu); with an engine file, a check that the\n"
    "                         engine was built for it (kiln build --device cuda)\n"
    "  --fp16                 a model built in memory for --device cuda uses FP16 storage and Tensor Core math\n"
    "  --seed N               seed of the random inputs (default 1)\n"
    "  --dumpProfile          per-layer table: Layer | Time (ms) | Avg. Time (ms) | Median Time (ms) | Time %\n"
    "  --separateProfileRun   profile in separate runs so the timed runs carry no per-layer clock reads\n"
    "  --exportProfile F      per-layer profile as trtexec's JSON: [{\"count\"}, {\"name\",\"timeMs\",...}, ...]\n"
    "  --exportTimes F        every timed run as trtexec's JSON: [{\"startEnqMs\",...,\"latencyMs\"}, ...]\n"
    "  --exportOutput F       the outputs of the last run: [{\"name\",\"dimensions\",\"values\"}]\n"
    "  --exportLayerInfo F    the engine's layers and bindings: {\"Layers\": [...], \"Bindings\": [...]}\n"
    "  --trace F              Chrome trace-event JSON of the layers on a timeline (Perfetto, chrome://tracing)\n"
    "  --report F             one self-contained HTML page: summary, latency histogram, per-layer bar chart\n"
    "  --json                 print the summary as JSON on stdout (schema in docs/BENCH.md) instead of text\n"
    "  --quiet                print only the Throughput and Latency lines\n"
    "  --verbose              also print the average of every --avgRuns runs\n"
    "  -h, --help             this text\n"
    "\n"
    "Profiling (--dumpProfile, --exportProfile, --trace, --report) turns on the per-layer clock; add\n"
    "--separateProfileRun to keep it out of the timed runs. GPU lines (Enqueue, H2D, GPU Compute, D2H) appear when\n"
    "the engine runs on a GPU backend: there latency = H2D + GPU compute + D2H (CUDA events on the\n"
    "context's stream), Enqueue Time is the host time to launch them, and --exportTimes fills h2dMs/computeMs/d2hMs.\n";

typedef struct {
    const char *model;
    int batch;          /* 0: default */
    const char *shapes;
    long iterations, avg_runs, threads, seed;
    double duration_s, warmup_ms;
    int n_percentiles;
    double percentiles[BENCH_MAX_PERCENTILES];
    int dump_profile, separate_profile, json, quiet, verbose;
    int device, fp16; /* KILN_DEVICE_* (-1: not given), --fp16 */
    const char *export_profile, *export_times, *export_output, *export_layer_info, *trace, *report;
} bench_options;

/* Per-run GPU split (kiln_context_run_timed), one entry per timed run; on == 0 on a CPU engine. */
typedef struct {
    int on;
    double *enq, *h2d, *comp, *d2h;
    stats_summary s_enq, s_h2d, s_comp, s_d2h;
} gpu_times;

/* ---- per-layer collection through the layer callback ---- */

#define TRACE_RUNS 20 /* runs kept for --trace: enough to see the pattern, small enough to load quickly */

typedef struct {
    int n_layers;
    size_t run;           /* current profiled run */
    size_t cap_runs;
    double *ms;           /* cap_runs x n_layers */
    double origin_ms;     /* time 0 of the trace */
    bench_event *events;  /* TRACE_RUNS x n_layers */
    size_t n_events;
    int failed;
} profile_sink;

static void on_layer(void *user, const kiln_layer_event *ev)
{
    profile_sink *p = user;
    if (p->run >= p->cap_runs) {
        size_t cap = p->cap_runs ? p->cap_runs * 2 : 1024;
        double *ms = realloc(p->ms, sizeof(double) * cap * (size_t)p->n_layers);
        if (!ms) {
            p->failed = 1;
            return;
        }
        p->ms = ms;
        p->cap_runs = cap;
    }
    p->ms[p->run * (size_t)p->n_layers + (size_t)ev->index] = ev->ms;
    if (p->run < TRACE_RUNS && p->events) {
        bench_event *e = &p->events[p->n_events++];
        e->layer = ev->index;
        e->run = (int)p->run;
        e->start_ms = ev->start_ms - p->origin_ms;
        e->ms = ev->ms;
    }
}

/* ---- helpers ---- */

static double now_ms(void) { return cli_now_s() * 1e3; }

static int parse_percentiles(const char *s, bench_options *o)
{
    o->n_percentiles = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || v < 0 || v > 100 || o->n_percentiles >= BENCH_MAX_PERCENTILES) return -1;
        o->percentiles[o->n_percentiles++] = v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return o->n_percentiles ? 0 : -1;
}

/* "--shapes x:4x224x224x3[,y:...]": the batch of every entry (they must agree). */
static int parse_shapes_batch(const char *s, int *batch)
{
    *batch = 0;
    const char *p = s;
    while (*p) {
        const char *colon = strchr(p, ':');
        if (!colon) return -1;
        char *end;
        long b = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || b < 1 || b > 65536) return -1;
        if (*batch && *batch != b) return -1;
        *batch = (int)b;
        const char *comma = strchr(end, ',');
        if (!comma) break;
        p = comma + 1;
    }
    return *batch ? 0 : -1;
}

/* Check the dims after the batch of every --shapes entry against the engine's inputs. */
static int check_shapes(const kiln_engine *e, const char *s)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *colon = strrchr(tok, ':');
        if (!colon) return cli_usage("bench", "--shapes wants NAME:NxHxWxC, not '%s'", tok);
        *colon = '\0';
        int idx = kiln_engine_find_input(e, tok);
        if (idx < 0) return cli_fail("--shapes names '%s', but the model has no such input", tok);
        kiln_tensor_info ti;
        kiln_engine_input_info(e, idx, &ti);
        int rank = 0;
        int64_t d[KILN_TENSOR_MAX_RANK];
        for (char *q = colon + 1; *q && rank < KILN_TENSOR_MAX_RANK;) {
            d[rank++] = strtoll(q, &q, 10);
            if (*q == 'x') q++;
        }
        int same = rank == ti.rank;
        for (int k = 1; same && k < rank; k++) same = d[k] == ti.dims[k];
        char want[128];
        if (!same)
            return cli_fail("--shapes %s:%s does not match the input's shape %s (only the batch may change)", tok,
                            colon + 1, cli_shape(want, sizeof want, ti.rank, ti.dims, -1));
    }
    return CLI_OK;
}

static void print_stat_line(FILE *f, const char *title, const stats_summary *s, const bench_result *r)
{
    fprintf(f, "%s: min = %.5g ms, max = %.5g ms, mean = %.5g ms, median = %.5g ms", title, s->min, s->max, s->mean,
            s->median);
    for (int i = 0; i < r->n_percentiles; i++)
        fprintf(f, ", percentile(%g%%) = %.5g ms", r->percentile[i], r->percentile_ms[i]);
    fprintf(f, "\n");
}

/* One trtexec line (min/max/mean/median/percentiles) of n samples; fills *s. Returns -1 when out of memory. */
static int print_series(FILE *f, const char *title, const double *x, size_t n, const bench_result *r, stats_summary *s)
{
    double *sorted = malloc(sizeof(double) * (n ? n : 1));
    if (!sorted || stats_summarize(x, n, s, sorted) != 0) return free(sorted), -1;
    if (f) {
        fprintf(f, "%s: min = %.5g ms, max = %.5g ms, mean = %.5g ms, median = %.5g ms", title, s->min, s->max, s->mean,
                s->median);
        for (int i = 0; i < r->n_percentiles; i++)
            fprintf(f, ", percentile(%g%%) = %.5g ms", r->percentile[i], stats_percentile_sorted(sorted, n, r->percentile[i]));
        fprintf(f, "\n");
    }
    free(sorted);
    return 0;
}

static size_t name_width(const bench_result *r)
{
    size_t w = 5;
    for (int i = 0; i < r->n_layers; i++)
        if (strlen(r->layers[i].name) > w) w = strlen(r->layers[i].name);
    return w > 100 ? 100 : w;
}

static void print_profile(FILE *f, const bench_result *r)
{
    int w = (int)name_width(r);
    fprintf(f, "\n=== Profile (%zu iterations%s) ===\n", r->profile_runs, r->separate_profile ? ", separate runs" : "");
    fprintf(f, "%-*s | %10s | %15s | %17s | %7s | %8s | %6s\n", w, "Layer", "Time (ms)", "Avg. Time (ms)",
            "Median Time (ms)", "Time %", "GFLOP/s", "% peak");
    for (int i = 0; i < r->n_layers; i++) {
        const bench_layer *l = &r->layers[i];
        fprintf(f, "%-*s | %10.4f | %15.5f | %17.5f | %7.2f", w, l->name, l->total_ms, l->avg_ms, l->median_ms,
                l->percent);
        if (l->gflops > 0) fprintf(f, " | %8.1f", l->gflops);
        else fprintf(f, " | %8s", "");
        if (l->kernel_gflops > 0 && r->peak_gflops > 0)
            fprintf(f, " | %6.1f\n", 100.0 * l->kernel_gflops / r->peak_gflops);
        else fprintf(f, " | %6s\n", "");
    }
    fprintf(f, "%-*s | %10.4f | %15.5f | %17.5f | %7.2f\n", w, "Total", r->profile_total_ms,
            r->profile_runs ? r->profile_total_ms / (double)r->profile_runs : 0, r->profile_total_median_ms, 100.0);
    if (r->peak_gflops > 0) {
        fprintf(f, "GFLOP/s: the layer's convolution / dense FLOPs (2 per multiply-add, as a direct convolution) for the "
                   "batch over its median time; %% peak: of %.1f GFLOP/s, the measured FMA peak of one core x %d "
                   "thread%s, the rate of the multiply-adds its kernel does (Winograd: the transformed products)\n",
                r->peak_gflops, r->threads, r->threads == 1 ? "" : "s");
        /* What no kernel choice of this engine can beat: its kernels' multiply-adds at 100% of the FMA peak. */
        const double floor_ms = r->kernel_gflop / r->peak_gflops * 1e3;
        fprintf(f, "Multiply floor: the kernels chosen here do %.4g GFLOP of multiply-adds a batch (%.4g GFLOP as direct "
                   "convolutions; Winograd transforms' additions not counted): %.4g ms at the measured peak, %.0f%% of "
                   "this profile's median total (%.4g ms). Weights read per run: %.4g MB\n",
                r->kernel_gflop, r->direct_gflop, floor_ms,
                r->profile_total_median_ms > 0 ? 100.0 * floor_ms / r->profile_total_median_ms : 0,
                r->profile_total_median_ms, r->weight_mb);
    }
    int fused = 0;
    for (int i = 0; i < r->n_layers; i++) fused += r->layers[i].fused_into_next;
    if (fused)
        fprintf(f, "Note: %d layer%s run%s inside the next layer (row streaming / squeeze-excite folding, "
                   "kiln inspect: +stream / +fold), as in unprofiled runs: %s 0 ms, and the layer the group ends with carries the "
                   "group's time and FLOPs\n",
                fused, fused == 1 ? "" : "s", fused == 1 ? "s" : "", fused == 1 ? "it shows" : "they show");
}

static int write_profile_json(const char *path, const bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("%s: cannot write: %s", path, strerror(errno)), -1;
    fprintf(f, "[\n  {\"count\": %zu}", r->profile_runs);
    for (int i = 0; i < r->n_layers; i++) {
        const bench_layer *l = &r->layers[i];
        fprintf(f, ",\n  {\"name\": ");
        bench_json_string(f, l->name);
        fprintf(f, ", \"timeMs\": %.9g, \"averageMs\": %.9g, \"medianMs\": %.9g, \"percentage\": %.9g", l->total_ms,
                l->avg_ms, l->median_ms, l->percent);
        if (l->fused_into_next) fprintf(f, ", \"fusedIntoNext\": true");
        fprintf(f, "}");
    }
    fprintf(f, "\n]\n");
    return fclose(f) == 0 ? 0 : (cli_fail("%s: write error", path), -1);
}

/* trtexec's --exportTimes records. On the CPU there are no transfers: H2D and D2H are empty spans at the start and
 * the end of the run, and compute = enqueue = the whole run. On a GPU the spans follow each other from the host start
 * of the run (the events give durations, not a shared clock): H2D, then compute, then D2H; enqueue from the start. */
static int write_times_json(const char *path, const bench_result *r, const gpu_times *gt)
{
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("%s: cannot write: %s", path, strerror(errno)), -1;
    fprintf(f, "[");
    for (size_t i = 0; i < r->runs && gt->on; i++) {
        double s = r->start_ms[i], h = s + gt->h2d[i], c = h + gt->comp[i], d = c + gt->d2h[i];
        fprintf(f,
                "%s\n  {\"startEnqMs\": %.6f, \"endEnqMs\": %.6f, \"startH2dMs\": %.6f, \"endH2dMs\": %.6f, "
                "\"startComputeMs\": %.6f, \"endComputeMs\": %.6f, \"startD2hMs\": %.6f, \"endD2hMs\": %.6f, "
                "\"h2dMs\": %.6f, \"computeMs\": %.6f, \"d2hMs\": %.6f, \"latencyMs\": %.6f}",
                i ? "," : "", s, s + gt->enq[i], s, h, h, c, c, d, gt->h2d[i], gt->comp[i], gt->d2h[i], r->latency_ms[i]);
    }
    for (size_t i = 0; i < r->runs && !gt->on; i++) {
        double s = r->start_ms[i], e = s + r->latency_ms[i];
        fprintf(f,
                "%s\n  {\"startEnqMs\": %.6f, \"endEnqMs\": %.6f, \"startH2dMs\": %.6f, \"endH2dMs\": %.6f, "
                "\"startComputeMs\": %.6f, \"endComputeMs\": %.6f, \"startD2hMs\": %.6f, \"endD2hMs\": %.6f, "
                "\"h2dMs\": 0, \"computeMs\": %.6f, \"d2hMs\": 0, \"latencyMs\": %.6f}",
                i ? "," : "", s, e, s, s, s, e, e, e, r->latency_ms[i], r->latency_ms[i]);
    }
    fprintf(f, "\n]\n");
    return fclose(f) == 0 ? 0 : (cli_fail("%s: write error", path), -1);
}

static int write_layer_info(const char *path, const kiln_engine *e)
{
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("%s: cannot write: %s", path, strerror(errno)), -1;
    kiln_status st = kiln_engine_describe(e, f, 1);
    int bad = fclose(f) != 0;
    if (st != KILN_OK) return cli_fail_library(st), -1;
    return bad ? (cli_fail("%s: write error", path), -1) : 0;
}

static void print_json(const bench_result *r, const gpu_times *gt)
{
    FILE *f = stdout;
    const stats_summary *s = &r->latency;
    printf("{\n  \"schema\": \"kiln-bench\",\n  \"version\": 1,\n  \"model\": ");
    bench_json_string(f, r->model);
    printf(",\n  \"target\": ");
    bench_json_string(f, r->target);
    printf(",\n  \"batch\": %d,\n  \"threads\": %d,\n  \"warmupRuns\": %d,\n  \"warmupMs\": %.6g,\n  \"iterations\": %zu,\n"
           "  \"walltimeS\": %.9g,\n  \"computeS\": %.9g,\n  \"throughputQps\": %.9g,\n  \"throughputImagesPerS\": %.9g,\n",
           r->batch, r->threads, r->warmup_runs, r->warmup_ms, r->runs, r->walltime_s, r->compute_s, r->throughput_qps,
           r->throughput_qps * r->batch);
    printf("  \"latencyMs\": {\"min\": %.9g, \"max\": %.9g, \"mean\": %.9g, \"median\": %.9g, \"stddev\": %.9g, "
           "\"cov\": %.9g, \"ci95\": [%.9g, %.9g], \"percentiles\": {",
           s->min, s->max, s->mean, s->median, s->stddev, s->cov, s->mean - s->ci95, s->mean + s->ci95);
    for (int i = 0; i < r->n_percentiles; i++) printf("%s\"%g\": %.9g", i ? ", " : "", r->percentile[i], r->percentile_ms[i]);
    printf("}},\n");
    if (gt->on) {
        const char *names[4] = {"enqueueMs", "h2dMs", "gpuComputeMs", "d2hMs"};
        const stats_summary *g[4] = {&gt->s_enq, &gt->s_h2d, &gt->s_comp, &gt->s_d2h};
        printf("  \"gpu\": {");
        for (int i = 0; i < 4; i++)
            printf("%s\"%s\": {\"min\": %.9g, \"max\": %.9g, \"mean\": %.9g, \"median\": %.9g, \"cov\": %.9g}",
                   i ? ", " : "", names[i], g[i]->min, g[i]->max, g[i]->mean, g[i]->median, g[i]->cov);
        printf(", \"totalGpuComputeS\": %.9g},\n", gt->s_comp.sum * 1e-3);
    }
    printf("  \"unstable\": %s,\n  \"profile\": ", (gt->on ? gt->s_comp.cov : s->cov) > 0.01 ? "true" : "false");
    if (!r->n_layers) {
        printf("null\n}\n");
        return;
    }
    printf("{\"count\": %zu, \"separateRuns\": %s, \"totalMs\": %.9g, \"layers\": [", r->profile_runs,
           r->separate_profile ? "true" : "false", r->profile_total_ms);
    for (int i = 0; i < r->n_layers; i++) {
        const bench_layer *l = &r->layers[i];
        printf("%s\n    {\"name\": ", i ? "," : "");
        bench_json_string(f, l->name);
        printf(", \"type\": ");
        bench_json_string(f, l->type);
        printf(", \"timeMs\": %.9g, \"averageMs\": %.9g, \"medianMs\": %.9g, \"percentage\": %.9g, "
               "\"kernelGflop\": %.9g, \"weightBytes\": %lld}",
               l->total_ms, l->avg_ms, l->median_ms, l->percent, l->kernel_gflop, l->weight_bytes);
    }
    printf("\n  ], \"medianTotalMs\": %.9g, \"peakGflops\": %.9g, \"directGflop\": %.9g, \"kernelGflop\": %.9g, "
           "\"multiplyFloorMs\": %.9g, \"weightMB\": %.9g}\n}\n",
           r->profile_total_median_ms, r->peak_gflops, r->direct_gflop, r->kernel_gflop,
           r->peak_gflops > 0 ? r->kernel_gflop / r->peak_gflops * 1e3 : 0, r->weight_mb);
}

/* Fill r->layers from the sink: totals, averages, medians, shares. */
static int summarize_profile(bench_result *r, const kiln_engine *e, const profile_sink *p)
{
    r->n_layers = p->n_layers;
    r->profile_runs = p->run;
    r->layers = calloc((size_t)(p->n_layers > 0 ? p->n_layers : 1), sizeof(bench_layer));
    double *col = malloc(sizeof(double) * (p->run > 0 ? p->run : 1));
    double *tot = calloc(p->run > 0 ? p->run : 1, sizeof(double));
    if (!r->layers || !col || !tot) return free(col), free(tot), cli_fail("out of memory"), -1;
    r->profile_total_ms = 0;
    double group_flops = 0, group_kernel_flops = 0;
    r->direct_gflop = r->kernel_gflop = r->weight_mb = 0;
    for (int i = 0; i < p->n_layers; i++) {
        kiln_layer_info li;
        kiln_engine_layer_info(e, i, &li);
        bench_layer *l = &r->layers[i];
        l->name = li.name;
        l->type = li.type;
        for (size_t k = 0; k < p->run; k++) {
            col[k] = p->ms[k * (size_t)p->n_layers + (size_t)i];
            tot[k] += col[k];
            l->total_ms += col[k];
        }
        stats_summary s;
        if (p->run && stats_summarize(col, p->run, &s, NULL) == 0) l->median_ms = s.median;
        l->avg_ms = p->run ? l->total_ms / (double)p->run : 0;
        /* a streamed group's time is on its last layer: so are its FLOPs */
        group_flops += li.flops;
        group_kernel_flops += li.kernel_flops;
        l->gflops = !li.fused_into_next && group_flops > 0 && l->median_ms > 0
                        ? group_flops * r->batch / l->median_ms / 1e6 : 0;
        l->kernel_gflops = !li.fused_into_next && group_kernel_flops > 0 && l->median_ms > 0
                               ? group_kernel_flops * r->batch / l->median_ms / 1e6 : 0;
        l->kernel_gflop = li.fused_into_next ? 0 : group_kernel_flops * r->batch / 1e9;
        if (!li.fused_into_next) group_flops = group_kernel_flops = 0;
        l->weight_bytes = li.weight_bytes;
        r->direct_gflop += li.flops * r->batch / 1e9;
        r->kernel_gflop += li.kernel_flops * r->batch / 1e9;
        r->weight_mb += (double)li.weight_bytes / 1e6;
        l->fused_into_next = li.fused_into_next;
        r->profile_total_ms += l->total_ms;
    }
    for (int i = 0; i < p->n_layers; i++)
        r->layers[i].percent = r->profile_total_ms > 0 ? 100.0 * r->layers[i].total_ms / r->profile_total_ms : 0;
    stats_summary s;
    if (p->run && stats_summarize(tot, p->run, &s, NULL) == 0) r->profile_total_median_ms = s.median;
    free(col);
    free(tot);
    return 0;
}

/* Timed loop: runs until both min_runs and min_ms are reached. Appends to latency/start (grown as needed). */
static int timed_runs(kiln_context *ctx, int batch, long min_runs, double min_ms, double origin, double **lat,
                      double **start, size_t *n, profile_sink *sink, gpu_times *gt)
{
    size_t cap = 0;
    *n = 0;
    double t_begin = now_ms();
    for (;;) {
        if ((long)*n >= min_runs && now_ms() - t_begin >= min_ms) break;
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            double *a = lat ? realloc(*lat, sizeof(double) * cap) : NULL;
            if (lat && !a) return cli_fail("out of memory"), -1;
            if (lat) *lat = a;
            double *b = start ? realloc(*start, sizeof(double) * cap) : NULL;
            if (start && !b) return cli_fail("out of memory"), -1;
            if (start) *start = b;
            double **g[4] = {gt ? &gt->enq : NULL, gt ? &gt->h2d : NULL, gt ? &gt->comp : NULL, gt ? &gt->d2h : NULL};
            for (int k = 0; gt && gt->on && k < 4; k++) {
                double *c = realloc(*g[k], sizeof(double) * cap);
                if (!c) return cli_fail("out of memory"), -1;
                *g[k] = c;
            }
        }
        kiln_run_timing tm;
        double t0 = now_ms();
        kiln_status st = gt && gt->on ? kiln_context_run_timed(ctx, batch, &tm) : kiln_context_run(ctx, batch);
        double t1 = now_ms();
        if (st != KILN_OK) return cli_fail_library(st), -1;
        if (lat) (*lat)[*n] = t1 - t0;
        if (gt && gt->on) {
            gt->enq[*n] = tm.enqueue_ms;
            gt->h2d[*n] = tm.h2d_ms;
            gt->comp[*n] = tm.compute_ms;
            gt->d2h[*n] = tm.d2h_ms;
            if (lat) (*lat)[*n] = tm.h2d_ms + tm.compute_ms + tm.d2h_ms; /* trtexec's latency on a GPU */
        }
        if (start) (*start)[*n] = t0 - origin;
        if (sink) sink->run++;
        if (sink && sink->failed) return cli_fail("out of memory for the profile"), -1;
        (*n)++;
    }
    return 0;
}

static int bench(const bench_options *o)
{
    int rc = CLI_OK;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    float **inputs = NULL, **outputs = NULL;
    int n_in = 0, n_out = 0;
    bench_result r;
    profile_sink sink;
    gpu_times gt;
    memset(&gt, 0, sizeof gt);
    memset(&r, 0, sizeof r);
    memset(&sink, 0, sizeof sink);

    int batch = o->batch;
    if (o->shapes && parse_shapes_batch(o->shapes, &batch) != 0)
        return cli_usage("bench", "--shapes wants NAME:NxHxWxC[,NAME:...] with one batch N, not '%s'", o->shapes);
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.threads = (int)o->threads;
    opt.batch_min = opt.batch_max = batch ? batch : 1;
    if (o->device == KILN_DEVICE_CUDA) opt.device = KILN_DEVICE_CUDA;
    if (o->fp16) opt.precision = KILN_PRECISION_FP16;
    if ((rc = cli_open_engine(o->model, &opt, &engine)) != CLI_OK) return rc;
    n_in = kiln_engine_num_inputs(engine);
    n_out = kiln_engine_num_outputs(engine);
    kiln_tensor_info ti;
    if (n_in < 1) {
        rc = cli_fail("the model has no inputs");
        goto done;
    }
    kiln_engine_input_info(engine, 0, &ti);
    if (!batch) batch = ti.batch_min;
    if (batch < ti.batch_min || batch > ti.batch_max) {
        rc = cli_fail("batch %d is outside the engine's batch range %d..%d (rebuild with 'kiln build --batch MIN:MAX')",
                      batch, ti.batch_min, ti.batch_max);
        goto done;
    }
    if (o->shapes && (rc = check_shapes(engine, o->shapes)) != CLI_OK) goto done;

    kiln_status st = kiln_context_create(engine, &ctx);
    if (st != KILN_OK) {
        rc = cli_fail_library(st);
        goto done;
    }
    inputs = calloc((size_t)n_in, sizeof(float *));
    outputs = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof(float *));
    if (!inputs || !outputs) {
        rc = cli_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < n_in && st == KILN_OK; i++) {
        kiln_engine_input_info(engine, i, &ti);
        size_t n = (size_t)(cli_sample_numel(ti.rank, ti.dims) * batch);
        inputs[i] = malloc(sizeof(float) * (n ? n : 1));
        if (!inputs[i]) {
            rc = cli_fail("out of memory for input '%s'", ti.name);
            goto done;
        }
        cli_fill_uniform(inputs[i], n, (uint64_t)o->seed + (uint64_t)i * 7919u, -1.0f, 1.0f);
        st = kiln_context_bind_input(ctx, i, inputs[i]);
    }
    for (int i = 0; i < n_out && st == KILN_OK; i++) {
        kiln_engine_output_info(engine, i, &ti);
        size_t n = (size_t)(cli_sample_numel(ti.rank, ti.dims) * batch);
        outputs[i] = malloc(sizeof(float) * (n ? n : 1));
        if (!outputs[i]) {
            rc = cli_fail("out of memory for output '%s'", ti.name);
            goto done;
        }
        st = kiln_context_bind_output(ctx, i, outputs[i]);
    }
    if (st != KILN_OK) {
        rc = cli_fail_library(st);
        goto done;
    }

    r.model = o->model;
    r.batch = batch;
    r.threads = kiln_engine_num_threads(engine); /* a loaded engine runs with its own, not --threads */
    r.target = "CPU";
    r.n_percentiles = o->n_percentiles;
    memcpy(r.percentile, o->percentiles, sizeof r.percentile);
    const int profile = o->dump_profile || o->export_profile || o->trace || o->report;
    sink.n_layers = kiln_engine_num_layers(engine);
    if (profile && sink.n_layers > 0) {
        sink.events = malloc(sizeof(bench_event) * (size_t)sink.n_layers * TRACE_RUNS);
        if (!sink.events) {
            rc = cli_fail("out of memory");
            goto done;
        }
    }

    /* warm-up (at least one run: it also faults in the arena and the weights); its first run tells a GPU engine */
    double w0 = now_ms();
    do {
        kiln_run_timing tm;
        if ((st = kiln_context_run_timed(ctx, batch, &tm)) != KILN_OK) {
            rc = cli_fail_library(st);
            goto done;
        }
        gt.on = tm.on_gpu;
        r.warmup_runs++;
    } while (now_ms() - w0 < o->warmup_ms);
    if (gt.on) r.target = "CUDA GPU";
    if (o->device >= 0 && gt.on != (o->device == KILN_DEVICE_CUDA)) {
        rc = cli_fail("%s is a %s engine, not a %s one: build it with 'kiln build --device %s'", o->model,
                      gt.on ? "CUDA" : "CPU", gt.on ? "CPU" : "CUDA", gt.on ? "cpu" : "cuda");
        goto done;
    }
    r.warmup_ms = now_ms() - w0;

    /* timed runs (with the profile unless it has runs of its own) */
    const int profile_inline = profile && !o->separate_profile;
    double origin = now_ms();
    sink.origin_ms = origin;
    if (profile_inline) kiln_context_set_layer_timer(ctx, on_layer, &sink);
    if (timed_runs(ctx, batch, o->iterations, o->duration_s * 1e3, origin, &r.latency_ms, &r.start_ms, &r.runs,
                   profile_inline ? &sink : NULL, &gt) != 0) {
        rc = CLI_FAIL;
        goto done;
    }
    kiln_context_set_layer_callback(ctx, NULL, NULL);
    r.walltime_s = (r.start_ms[r.runs - 1] + r.latency_ms[r.runs - 1] - r.start_ms[0]) * 1e-3;
    if (profile && o->separate_profile) {
        size_t n = 0;
        double *pstart = NULL;
        sink.origin_ms = now_ms();
        kiln_context_set_layer_timer(ctx, on_layer, &sink);
        int bad = timed_runs(ctx, batch, o->iterations, o->duration_s * 1e3, sink.origin_ms, NULL, &pstart, &n, &sink, NULL);
        kiln_context_set_layer_callback(ctx, NULL, NULL);
        free(pstart);
        if (bad) {
            rc = CLI_FAIL;
            goto done;
        }
        r.separate_profile = 1;
    }

    /* statistics */
    double *sorted = malloc(sizeof(double) * r.runs);
    if (!sorted || stats_summarize(r.latency_ms, r.runs, &r.latency, sorted) != 0) {
        free(sorted);
        rc = cli_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < r.n_percentiles; i++) r.percentile_ms[i] = stats_percentile_sorted(sorted, r.runs, r.percentile[i]);
    free(sorted);
    r.compute_s = r.latency.sum * 1e-3;
    if (gt.on) {
        if (print_series(NULL, "", gt.enq, r.runs, &r, &gt.s_enq) || print_series(NULL, "", gt.h2d, r.runs, &r, &gt.s_h2d) ||
            print_series(NULL, "", gt.comp, r.runs, &r, &gt.s_comp) || print_series(NULL, "", gt.d2h, r.runs, &r, &gt.s_d2h)) {
            rc = cli_fail("out of memory");
            goto done;
        }
        r.compute_s = gt.s_comp.sum * 1e-3; /* Total GPU Compute Time */
    }
    r.throughput_qps = r.walltime_s > 0 ? (double)r.runs / r.walltime_s : 0;
    if (profile && !gt.on) r.peak_gflops = kiln_cpu_peak_gflops() * (r.threads > 0 ? r.threads : 1);
    if (profile && summarize_profile(&r, engine, &sink) != 0) {
        rc = CLI_FAIL;
        goto done;
    }
    r.events = sink.events;
    r.n_events = sink.n_events;
    r.traced_runs = sink.run < TRACE_RUNS ? sink.run : TRACE_RUNS;

    /* output */
    if (o->json) {
        print_json(&r, &gt);
    } else {
        const stats_summary *s = &r.latency;
        if (!o->quiet) {
            printf("kiln bench: %s, batch %d, %d warm-up runs in %.0f ms, %zu timed runs\n", o->model, batch,
                   r.warmup_runs, r.warmup_ms, r.runs);
            if (o->verbose && o->avg_runs > 0)
                for (size_t i = 0; i < r.runs; i += (size_t)o->avg_runs) {
                    size_t end = i + (size_t)o->avg_runs < r.runs ? i + (size_t)o->avg_runs : r.runs;
                    double sum = 0;
                    for (size_t k = i; k < end; k++) sum += r.latency_ms[k];
                    printf("Average on %zu runs - latency: %.5g ms\n", end - i, sum / (double)(end - i));
                }
            printf("=== Performance summary ===\n");
        }
        printf("Throughput: %.6g qps (%.6g images/s at batch %d)\n", r.throughput_qps, r.throughput_qps * batch, batch);
        print_stat_line(stdout, "Latency", s, &r);
        if (!o->quiet && gt.on) {
            print_series(stdout, "Enqueue Time", gt.enq, r.runs, &r, &gt.s_enq);
            print_series(stdout, "H2D Latency", gt.h2d, r.runs, &r, &gt.s_h2d);
            print_series(stdout, "GPU Compute Time", gt.comp, r.runs, &r, &gt.s_comp);
            print_series(stdout, "D2H Latency", gt.d2h, r.runs, &r, &gt.s_d2h);
        }
        if (!o->quiet) {
            printf("Latency mean 95%% CI: [%.5g, %.5g] ms (mean %.5g +- %.3g ms over %zu runs)\n", s->mean - s->ci95,
                   s->mean + s->ci95, s->mean, s->ci95, r.runs);
            printf("Coefficient of variation: %.2f%%\n", 100 * s->cov);
            printf("Total Host Walltime: %.6g s\n", r.walltime_s);
            printf("Total %sCompute Time: %.6g s\n", gt.on ? "GPU " : "", r.compute_s);
            if (gt.on && gt.s_enq.median > 0.8 * gt.s_comp.median)
                printf("[W] * Throughput may be bound by Enqueue Time rather than GPU Compute and the GPU may be "
                       "under-utilized (median enqueue %.5g ms > 0.8 x median GPU compute %.5g ms): try a larger batch; "
                       "the CUDA graph is on unless KILN_CUDA_NO_GRAPH is set.\n", gt.s_enq.median, gt.s_comp.median);
            if (gt.on && gt.s_h2d.median + gt.s_d2h.median > gt.s_comp.median)
                printf("[W] * H2D and D2H copies take longer than the GPU compute (median %.5g + %.5g ms vs %.5g ms): "
                       "throughput and latency are bound by the transfers, not by the engine.\n",
                       gt.s_h2d.median, gt.s_d2h.median, gt.s_comp.median);
            if (gt.on && gt.s_comp.cov > 0.01)
                printf("[W] * GPU compute time is unstable, with coefficient of variance = %.2f%%: other work on the GPU, "
                       "clock changes or too short a run; try --duration 10, or lock the GPU clocks.\n",
                       100 * gt.s_comp.cov);
            else if (!gt.on && s->cov > 0.01)
                printf("[W] Latency is unstable, coefficient of variance = %.2f%% (above 1%%): other programs, frequency "
                       "scaling or too short a run; try --duration 10, an idle machine, or taskset.\n",
                       100 * s->cov);
            if (r.n_layers && o->dump_profile) print_profile(stdout, &r);
        }
    }
    if (o->export_profile && r.n_layers && write_profile_json(o->export_profile, &r) != 0) rc = CLI_FAIL;
    if (o->export_times && write_times_json(o->export_times, &r, &gt) != 0) rc = CLI_FAIL;
    if (o->export_layer_info && write_layer_info(o->export_layer_info, engine) != 0) rc = CLI_FAIL;
    if (o->trace && bench_write_trace(o->trace, &r) != 0) rc = CLI_FAIL;
    if (o->report && bench_write_html(o->report, &r) != 0) rc = CLI_FAIL;
    if (o->export_output) {
        cli_tensor_list l = {calloc((size_t)(n_out > 0 ? n_out : 1), sizeof(cli_tensor)), n_out};
        if (!l.t) {
            rc = cli_fail("out of memory");
        } else {
            for (int i = 0; i < n_out; i++) {
                kiln_engine_output_info(engine, i, &ti);
                l.t[i].name = (char *)ti.name;
                l.t[i].rank = ti.rank;
                memcpy(l.t[i].dims, ti.dims, sizeof ti.dims);
                l.t[i].dims[0] = batch;
                l.t[i].data = outputs[i];
            }
            if (cli_outputs_save(o->export_output, &l, 1) != 0) rc = CLI_FAIL;
            free(l.t); /* names and data are borrowed */
        }
    }
done:
    for (int i = 0; inputs && i < n_in; i++) free(inputs[i]);
    for (int i = 0; outputs && i < n_out; i++) free(outputs[i]);
    free(inputs);
    free(outputs);
    free(r.latency_ms);
    free(r.start_ms);
    free(gt.enq);
    free(gt.h2d);
    free(gt.comp);
    free(gt.d2h);
    free(r.layers);
    free(sink.ms);
    free(sink.events);
    kiln_context_free(ctx);
    kiln_engine_free(engine);
    return rc;
}

static int run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "bench", argc, argv);
    bench_options o;
    memset(&o, 0, sizeof o);
    o.iterations = 10;
    o.avg_runs = 10;
    o.threads = 1;
    o.seed = 1;
    o.duration_s = 3;
    o.warmup_ms = 200;
    o.device = -1;
    parse_percentiles("90,95,99", &o);
    long v;
    char *end;
    while (cli_args_next(&a)) {
        if (cli_positional(&a)) {
            if (o.model) return cli_usage("bench", "one MODEL_OR_ENGINE only (got '%s' and '%s')", o.model, a.arg);
            o.model = a.arg;
        } else if (cli_option(&a, "--batch", "-b")) {
            if (!a.error && cli_parse_int(a.value, 1, 65536, &v) != 0)
                return cli_usage("bench", "--batch wants a number from 1 to 65536, not '%s'", a.value);
            o.batch = (int)v;
        } else if (cli_option(&a, "--shapes", NULL)) {
            o.shapes = a.value;
        } else if (cli_option(&a, "--iterations", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 100000000, &v) != 0)
                return cli_usage("bench", "--iterations wants a positive number, not '%s'", a.value);
            o.iterations = v;
        } else if (cli_option(&a, "--duration", NULL)) {
            if (!a.error && ((o.duration_s = strtod(a.value, &end)) < 0 || *end || end == a.value || o.duration_s > 86400))
                return cli_usage("bench", "--duration wants seconds (0 to 86400), not '%s'", a.value);
        } else if (cli_option(&a, "--warmUp", NULL)) {
            if (!a.error && ((o.warmup_ms = strtod(a.value, &end)) < 0 || *end || end == a.value))
                return cli_usage("bench", "--warmUp wants milliseconds, not '%s'", a.value);
        } else if (cli_option(&a, "--avgRuns", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 1000000, &v) != 0)
                return cli_usage("bench", "--avgRuns wants a positive number, not '%s'", a.value);
            o.avg_runs = v;
        } else if (cli_option(&a, "--percentile", NULL)) {
            if (!a.error && parse_percentiles(a.value, &o) != 0)
                return cli_usage("bench", "--percentile wants up to %d numbers in 0..100 separated by commas, not '%s'",
                                 BENCH_MAX_PERCENTILES, a.value);
        } else if (cli_option(&a, "--threads", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 4096, &v) != 0)
                return cli_usage("bench", "--threads wants a number from 1 to 4096, not '%s'", a.value);
            o.threads = v;
        } else if (cli_option(&a, "--seed", NULL)) {
            if (!a.error && cli_parse_int(a.value, 0, 0x7fffffffL, &v) != 0)
                return cli_usage("bench", "--seed wants a number from 0 to 2147483647, not '%s'", a.value);
            o.seed = v;
        } else if (cli_option(&a, "--device", NULL)) {
            if (!a.error && strcmp(a.value, "cpu") && strcmp(a.value, "cuda"))
                return cli_usage("bench", "--device wants cpu or cuda, not '%s'", a.value);
            if (!a.error) o.device = strcmp(a.value, "cuda") ? KILN_DEVICE_CPU : KILN_DEVICE_CUDA;
        } else if (cli_flag(&a, "--fp16", NULL)) {
            o.fp16 = 1;
        } else if (cli_flag(&a, "--dumpProfile", NULL)) {
            o.dump_profile = 1;
        } else if (cli_flag(&a, "--separateProfileRun", NULL)) {
            o.separate_profile = 1;
        } else if (cli_option(&a, "--exportProfile", NULL)) {
            o.export_profile = a.value;
        } else if (cli_option(&a, "--exportTimes", NULL)) {
            o.export_times = a.value;
        } else if (cli_option(&a, "--exportOutput", NULL)) {
            o.export_output = a.value;
        } else if (cli_option(&a, "--exportLayerInfo", NULL)) {
            o.export_layer_info = a.value;
        } else if (cli_option(&a, "--trace", NULL)) {
            o.trace = a.value;
        } else if (cli_option(&a, "--report", NULL)) {
            o.report = a.value;
        } else if (cli_flag(&a, "--json", NULL)) {
            o.json = 1;
        } else if (cli_flag(&a, "--quiet", "-q")) {
            o.quiet = 1;
        } else if (cli_flag(&a, "--verbose", "-v")) {
            o.verbose = 1;
        } else {
            return cli_unknown(&a);
        }
        if (a.error) return CLI_USAGE;
    }
    if (!o.model) return cli_usage("bench", "missing MODEL_OR_ENGINE");
    if (o.batch && o.shapes) return cli_usage("bench", "give --batch or --shapes, not both");
    if (o.fp16 && o.device != KILN_DEVICE_CUDA) return cli_usage("bench", "--fp16 needs --device cuda");
    return bench(&o);
}

const cli_command cli_bench_command = {"bench", "time an engine like trtexec: latency, throughput, per-layer profile",
                                       help, run};
