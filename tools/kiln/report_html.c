/* --report F.html: one self-contained page (inline CSS and SVG; no script, no external resource) with the performance
 * summary, a latency histogram and a per-layer bar chart sorted by time. Opens offline in any browser. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cli.h"

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Text shortened to `max` characters (with an ellipsis) for chart labels; the full name goes in a <title>. */
static void esc_short(FILE *f, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return esc(f, s);
    char buf[256];
    size_t keep = max - 1 < sizeof buf - 1 ? max - 1 : sizeof buf - 1;
    memcpy(buf, s, keep);
    buf[keep] = '\0';
    esc(f, buf);
    fputs("&#8230;", f);
}

static void summary_table(FILE *f, const bench_result *r)
{
    const stats_summary *s = &r->latency;
    fprintf(f, "<h2>Performance summary</h2>\n<table class=\"kv\">\n");
    fprintf(f, "<tr><th>Throughput</th><td>%.6g qps (%.6g images/s at batch %d)</td></tr>\n", r->throughput_qps,
            r->throughput_qps * r->batch, r->batch);
    fprintf(f, "<tr><th>Latency</th><td>min %.5g ms, max %.5g ms, mean %.5g ms, median %.5g ms", s->min, s->max,
            s->mean, s->median);
    for (int i = 0; i < r->n_percentiles; i++) fprintf(f, ", p%g %.5g ms", r->percentile[i], r->percentile_ms[i]);
    fprintf(f, "</td></tr>\n");
    fprintf(f, "<tr><th>Mean, 95%% CI</th><td>[%.5g, %.5g] ms over %zu runs</td></tr>\n", s->mean - s->ci95,
            s->mean + s->ci95, r->runs);
    fprintf(f, "<tr><th>Coefficient of variation</th><td%s>%.2f%%%s</td></tr>\n", s->cov > 0.01 ? " class=\"warn\"" : "",
            100 * s->cov, s->cov > 0.01 ? " &#8212; unstable (above 1%)" : "");
    fprintf(f, "<tr><th>Total host walltime</th><td>%.6g s</td></tr>\n", r->walltime_s);
    fprintf(f, "<tr><th>Total compute time</th><td>%.6g s</td></tr>\n", r->compute_s);
    fprintf(f, "<tr><th>Warm-up</th><td>%d runs in %.0f ms</td></tr>\n", r->warmup_runs, r->warmup_ms);
    fprintf(f, "</table>\n");
}

/* Latency histogram: 30 bins between min and max. */
static void histogram(FILE *f, const bench_result *r)
{
    enum { BINS = 30, W = 760, H = 260, L = 60, B = 40, T = 10 };
    size_t counts[BINS];
    double lo = r->latency.min, hi = r->latency.max;
    if (hi <= lo) hi = lo + 1e-3;
    stats_histogram(r->latency_ms, r->runs, lo, hi, BINS, counts);
    size_t top = 1;
    for (int b = 0; b < BINS; b++)
        if (counts[b] > top) top = counts[b];
    fprintf(f, "<h2>Latency histogram</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "role=\"img\" aria-label=\"latency histogram\">\n", W, H);
    const double pw = W - L - 30, ph = H - B - T, bw = pw / BINS;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" class=\"axis\"/>\n", L, T, L, T + ph);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n", L, T + ph, L + pw, T + ph);
    for (int b = 0; b < BINS; b++) {
        double h = ph * (double)counts[b] / (double)top;
        double b0 = lo + (hi - lo) * b / BINS, b1 = lo + (hi - lo) * (b + 1) / BINS;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"bar\"><title>%.5g-%.5g ms: "
                   "%zu runs</title></rect>\n", L + b * bw + 1, T + ph - h, bw - 2, h, b0, b1, counts[b]);
    }
    for (int k = 0; k <= 4; k++) {
        double x = L + pw * k / 4, v = lo + (hi - lo) * k / 4;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.4g</text>\n", x, T + ph + 16, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">latency (ms)</text>\n", L + pw / 2, H - 4);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%zu</text>\n", L - 6, T + 10, top);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">0</text>\n", L - 6, T + ph);
    fprintf(f, "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" text-anchor=\"middle\">runs</text>\n",
            T + ph / 2, T + ph / 2);
    /* median and percentile markers */
    double xm = L + pw * (r->latency.median - lo) / (hi - lo);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" class=\"median\"><title>median %.5g ms</title></line>\n",
            xm, T, xm, T + ph, r->latency.median);
    fprintf(f, "</svg>\n");
}

static int by_time_desc(const void *a, const void *b)
{
    const bench_layer *x = *(const bench_layer *const *)a, *y = *(const bench_layer *const *)b;
    return (x->total_ms < y->total_ms) - (x->total_ms > y->total_ms);
}

static int layer_chart(FILE *f, const bench_result *r)
{
    if (!r->n_layers) {
        fprintf(f, "<h2>Per-layer profile</h2>\n<p>Not profiled.</p>\n");
        return 0;
    }
    const bench_layer **order = malloc(sizeof(*order) * (size_t)r->n_layers);
    if (!order) return cli_fail("out of memory"), -1;
    for (int i = 0; i < r->n_layers; i++) order[i] = &r->layers[i];
    qsort(order, (size_t)r->n_layers, sizeof *order, by_time_desc);
    enum { W = 980, LABEL = 430, ROW = 18, T = 6 };
    const double top = order[0]->avg_ms > 0 ? order[0]->avg_ms : 1, pw = W - LABEL - 150;
    const int H = T + ROW * r->n_layers + 10;
    fprintf(f, "<h2>Per-layer profile (%zu runs%s), sorted by time</h2>\n", r->profile_runs,
            r->separate_profile ? ", separate profiling runs" : "");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
               "aria-label=\"per-layer times\">\n", W, H);
    for (int i = 0; i < r->n_layers; i++) {
        const bench_layer *l = order[i];
        double y = T + ROW * i, w = pw * l->avg_ms / top;
        fprintf(f, "<g><title>");
        esc(f, l->name);
        fprintf(f, " (%s): %.5g ms average, %.2f%%</title>", l->type, l->avg_ms, l->percent);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"lbl\">", LABEL - 6, y + 12);
        esc_short(f, l->name, 64);
        fprintf(f, "</text><rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" class=\"bar\"/>", LABEL, y + 2,
                w > 0.5 ? w : 0.5, ROW - 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"val\">%.4g ms (%.1f%%)</text></g>\n", LABEL + w + 4, y + 12,
                l->avg_ms, l->percent);
    }
    fprintf(f, "</svg>\n");
    fprintf(f, "<h2>Per-layer table (execution order)</h2>\n<table class=\"grid\">\n<tr><th>#</th><th>Layer</th>"
               "<th>Type</th><th>Time (ms)</th><th>Avg. Time (ms)</th><th>Median Time (ms)</th><th>Time %%</th></tr>\n");
    for (int i = 0; i < r->n_layers; i++) {
        const bench_layer *l = &r->layers[i];
        fprintf(f, "<tr><td>%d</td><td>", i);
        esc(f, l->name);
        fprintf(f, "</td><td>%s</td><td>%.4f</td><td>%.5f</td><td>%.5f</td><td>%.2f</td></tr>\n", l->type, l->total_ms,
                l->avg_ms, l->median_ms, l->percent);
    }
    fprintf(f, "<tr class=\"total\"><td></td><td>Total</td><td></td><td>%.4f</td><td>%.5f</td><td>%.5f</td>"
               "<td>100.00</td></tr>\n</table>\n",
            r->profile_total_ms, r->profile_runs ? r->profile_total_ms / (double)r->profile_runs : 0,
            r->profile_total_median_ms);
    free(order);
    return 0;
}

int bench_write_html(const char *path, const bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("%s: cannot write: %s", path, strerror(errno)), -1;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>kiln bench: ");
    esc(f, r->model);
    fprintf(f, "</title>\n<style>\n"
               "body{font-family:sans-serif;margin:24px;color:#222;background:#fff}\n"
               "h1{font-size:20px}h2{font-size:16px;margin-top:28px}\n"
               "table.kv th{text-align:left;padding-right:16px;font-weight:600}\n"
               "table.grid{border-collapse:collapse;font-size:12px}\n"
               "table.grid td,table.grid th{border:1px solid #ccc;padding:2px 6px}\n"
               "table.grid td:nth-child(n+4){text-align:right}\n"
               "tr.total{font-weight:700}.warn{color:#b00}\n"
               "svg text{font-size:11px;fill:#333}.bar{fill:#3b7dd8}.axis{stroke:#555;stroke-width:1}\n"
               ".median{stroke:#d33;stroke-width:2;stroke-dasharray:4 3}\n"
               "</style>\n</head>\n<body>\n<h1>kiln bench: ");
    esc(f, r->model);
    char when[64] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "</h1>\n<p>%s, batch %d, %d thread%s, %zu timed runs. Generated by kiln %d.%d.%d on %s.</p>\n", r->target,
            r->batch, r->threads, r->threads == 1 ? "" : "s", r->runs, KILN_VERSION_MAJOR, KILN_VERSION_MINOR,
            KILN_VERSION_PATCH, when);
    summary_table(f, r);
    histogram(f, r);
    int rc = layer_chart(f, r);
    fprintf(f, "</body>\n</html>\n");
    if (fclose(f) != 0 && rc == 0) return cli_fail("%s: write error", path), -1;
    return rc;
}
