/* kiln compare A B: Polygraphy-style numeric comparison of two runs of a model.
 *
 * A and B are each a model file (imported and run by kiln's reference kernels with every optimizer pass off: the
 * oracle), an engine file, or an outputs file (JSON as written by --save-outputs or trtexec --exportOutput, or .npy).
 * A is the reference: relative errors are |A - B| / |A|. Per output: value statistics of A and B, absolute and
 * relative error statistics with histograms, the minimum tolerance that would pass, PASSED/FAILED against
 * --atol/--rtol with --check-error-stat; over several iterations (photos) the top-1/top-5 agreement; --per-layer
 * compares every intermediate tensor (matched by value name) through the layer callback and names the first layer
 * over tolerance. Exit status 1 when anything FAILED. JSON schema: docs/BENCH.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "image/image.h"
#include "opt/opt.h"
#include "stats.h"
#include "tensor_io.h"
#include "util/npy.h"

static const char help[] =
    "usage: kiln compare A [B] [IMAGE...] [--input [NAME=]X.npy ...] [--seed N] [--val-range [NAME:]LO,HI]\n"
    "                    [--iterations N] [--batch N] [--preprocess MODE] [--resize MODE] [--atol X] [--rtol X]\n"
    "                    [--check-error-stat elemwise|max|mean|median] [--per-layer [--layer-tol X]]\n"
    "                    [--save-outputs F]\n"
    "                    [--load-outputs F] [--save-inputs F] [--load-inputs F] [--json] [--quiet] [--threads N]\n"
    "\n"
    "Run A and B on the same inputs and compare their outputs like Polygraphy. A and B are each:\n"
    "  a model file (.h5, .onnx)  run by kiln's reference kernels with every optimizer pass disabled (the oracle)\n"
    "  an engine file             loaded and run as built\n"
    "  an outputs file            JSON written by --save-outputs or by trtexec --exportOutput, or a .npy (one output)\n"
    "A is the reference: relative error = |A - B| / |A|. Exit status 1 when any output FAILED.\n"
    "\n"
    "inputs (one iteration each; default: one iteration of random numbers):\n"
    "  IMAGE...                 photos (JPEG/PNG/BMP), one iteration each, made as in 'kiln predict'\n"
    "  --preprocess MODE        tf (default), caffe, torch, raw     --resize MODE   squash (default) or crop\n"
    "  --input [NAME=]X.npy     a tensor for an input (batch first); all --input together form one iteration\n"
    "  --seed N                 random inputs: uniform numbers from this seed (default 1), the same on every machine\n"
    "  --val-range [NAME:]LO,HI range of the random numbers (default -1,1); NAME: limits it to one input\n"
    "  --iterations N           random iterations (default 1), seeds N, N+1, ...\n"
    "  --batch N                batch of the random inputs (default 1)\n"
    "  --save-inputs F.json     write the inputs used; --load-inputs F.json reads them back (same format as outputs)\n"
    "\n"
    "checks:\n"
    "  --atol X, --rtol X       tolerances (default 1e-5 each). An element fails when its absolute error is above\n"
    "                           atol AND its relative error is above rtol (Polygraphy's rule)\n"
    "  --check-error-stat S     elemwise (default: every element), max, mean or median of the errors\n"
    "  --per-layer              compare every intermediate tensor of two kiln runs (layers matched by the name of\n"
    "                           the value they write) and name the first layer whose error is over tolerance:\n"
    "                           max |A-B| / max |A| above --layer-tol (default 1e-4; intermediate tensors are judged\n"
    "                           on their own scale, since fusion reorders FP32 math by ~1e-6 of it)\n"
    "\n"
    "outputs files:\n"
    "  --save-outputs F         write A's outputs (B's when A is a file): .json (trtexec --exportOutput format,\n"
    "                           an array per iteration when there are several) or .npy (one output, one iteration)\n"
    "  --load-outputs F         use the outputs file F as A (then the only positional model is B)\n"
    "\n"
    "  --json                   the report as JSON on stdout (schema in docs/BENCH.md)\n"
    "  --quiet                  print only the PASSED/FAILED summary lines\n"
    "  --threads N              worker threads when building an engine in memory (default 1)\n"
    "  -h, --help               this text\n"
    "\n"
    "example: kiln compare model.h5 model.kiln huskies.jpg owl.jpg --per-layer\n"
    "         kiln compare model.kiln --save-outputs ref.json --seed 3   (then elsewhere: kiln compare ref.json\n"
    "         model.kiln --seed 3)\n";

enum { STAT_ELEMWISE, STAT_MAX, STAT_MEAN, STAT_MEDIAN };
static const char *const stat_names[] = {"elemwise", "max", "mean", "median"};

#define MAX_RANGES 8
typedef struct {
    const char *a, *b;
    char **images;
    int n_images;
    const char **npy;      /* --input specs */
    int n_npy;
    long seed, iterations, batch, threads;
    struct {
        char name[128];
        float lo, hi;
    } range[MAX_RANGES];
    int n_ranges;
    kiln_preprocess_mode preprocess;
    kiln_resize_mode resize;
    double atol, rtol;
    double layer_tol;      /* --per-layer: max |A - B| / max |A| per tensor */
    int stat;
    int per_layer, json, quiet;
    const char *save_outputs, *load_outputs, *save_inputs, *load_inputs;
} compare_options;

/* ---- one side of the comparison ---- */

typedef struct {
    const char *path;
    const char *label;     /* "A" or "B" */
    int is_file;           /* outputs file */
    kiln_engine *engine;
    kiln_context *ctx;
    cli_tensor_list *loaded; /* outputs file contents */
    int n_loaded;
} side;

static int open_side(side *s, const char *path, const char *label, int batch_max, long threads)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->label = label;
    int is_engine = cli_is_engine_file(path);
    if (is_engine < 0) return CLI_FAIL;
    if (!is_engine && cli_is_outputs_file(path)) {
        s->is_file = 1;
        return cli_outputs_load(path, NULL, &s->loaded, &s->n_loaded) == 0 ? CLI_OK : CLI_FAIL;
    }
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_min = 1;
    opt.batch_max = batch_max;
    opt.threads = (int)threads;
    /* A model runs unoptimized: every pass off, so it is the reference the optimized engine is checked against. */
    char passes[512] = "";
    for (int i = 0; i < kiln_opt_num_passes(); i++)
        snprintf(passes + strlen(passes), sizeof passes - strlen(passes), "%s%s", i ? "," : "", kiln_opt_pass(i)->name);
    opt.disabled_passes = passes;
    opt.tactics = KILN_TACTICS_REFERENCE; /* and reference kernels only (an engine file keeps its own tactics) */
    int rc = cli_open_engine(path, &opt, &s->engine);
    if (rc != CLI_OK) return rc;
    kiln_status st = kiln_context_create(s->engine, &s->ctx);
    return st == KILN_OK ? CLI_OK : cli_fail_library(st);
}

static void close_side(side *s)
{
    for (int i = 0; i < s->n_loaded; i++) cli_tensor_list_free(&s->loaded[i]);
    free(s->loaded);
    kiln_context_free(s->ctx);
    kiln_engine_free(s->engine);
}

/* Run side s on `in` (one iteration); *out receives new tensors (caller frees with cli_tensor_list_free). */
static int run_side(side *s, const cli_tensor_list *in, cli_tensor_list *out)
{
    memset(out, 0, sizeof *out);
    const kiln_engine *e = s->engine;
    int n_in = kiln_engine_num_inputs(e), n_out = kiln_engine_num_outputs(e);
    if (in->n != n_in) return cli_fail("%s (%s) has %d inputs, %d given", s->label, s->path, n_in, in->n);
    int batch = in->n ? (int)in->t[0].dims[0] : 1;
    kiln_status st = KILN_OK;
    for (int i = 0; i < n_in && st == KILN_OK; i++) {
        const cli_tensor *t = &in->t[i];
        int idx = kiln_engine_find_input(e, t->name);
        if (idx < 0) idx = i; /* unnamed (.npy) inputs go in order */
        kiln_tensor_info ti;
        kiln_engine_input_info(e, idx, &ti);
        int same = t->rank == ti.rank && t->dims[0] == batch;
        for (int d = 1; same && d < ti.rank; d++) same = t->dims[d] == ti.dims[d];
        char want[128], got[128];
        if (!same)
            return cli_fail("%s (%s): input '%s' has shape %s, the model expects %s", s->label, s->path, ti.name,
                            cli_shape(got, sizeof got, t->rank, t->dims, t->dims[0]),
                            cli_shape(want, sizeof want, ti.rank, ti.dims, -1));
        if (batch < ti.batch_min || batch > ti.batch_max)
            return cli_fail("%s (%s): batch %d is outside the engine's batch range %d..%d", s->label, s->path, batch,
                            ti.batch_min, ti.batch_max);
        st = kiln_context_bind_input(s->ctx, idx, t->data);
    }
    out->t = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof(cli_tensor));
    if (!out->t) return cli_fail("out of memory");
    out->n = n_out;
    for (int i = 0; i < n_out && st == KILN_OK; i++) {
        kiln_tensor_info ti;
        kiln_engine_output_info(e, i, &ti);
        cli_tensor *t = &out->t[i];
        t->name = strdup(ti.name);
        t->rank = ti.rank;
        memcpy(t->dims, ti.dims, sizeof t->dims);
        t->dims[0] = batch;
        int64_t n = cli_tensor_numel(t);
        t->data = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        if (!t->name || !t->data) return cli_fail("out of memory");
        st = kiln_context_bind_output(s->ctx, i, t->data);
    }
    if (st == KILN_OK) st = kiln_context_run(s->ctx, batch);
    return st == KILN_OK ? CLI_OK : cli_fail_library(st);
}

/* ---- error metrics ---- */

typedef struct {
    int64_t n;
    stats_summary a, b, abs, rel;  /* rel over the finite relative errors */
    double a_p[3], b_p[3], abs_p[3], rel_p[3]; /* p90, p95, p99 */
    int64_t n_failed;              /* elements over both tolerances (elemwise) */
    int64_t n_nan_mismatch;        /* NaN in one side only */
    int64_t n_rel_inf;             /* A == 0, B != 0 */
    double req_abs, req_rel;       /* minimum tolerances that pass with the chosen statistic */
    int passed;
    double *abs_v, *rel_v;         /* owned; for histograms */
} error_report;

static const double pcts[3] = {90, 95, 99};

static int summarize_with_p(const double *x, size_t n, stats_summary *s, double *p)
{
    if (n == 0) {
        memset(s, 0, sizeof *s);
        p[0] = p[1] = p[2] = 0;
        return 0;
    }
    double *sorted = malloc(sizeof(double) * n);
    if (!sorted || stats_summarize(x, n, s, sorted) != 0) return free(sorted), -1;
    for (int k = 0; k < 3; k++) p[k] = stats_percentile_sorted(sorted, n, pcts[k]);
    free(sorted);
    return 0;
}

/* Compare a (reference) with b, n elements. */
static int compute_errors(const float *a, const float *b, int64_t n, double atol, double rtol, int stat,
                          error_report *r)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    double *av = malloc(sizeof(double) * (size_t)(n ? n : 1)), *bv = malloc(sizeof(double) * (size_t)(n ? n : 1));
    r->abs_v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    r->rel_v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!av || !bv || !r->abs_v || !r->rel_v) return free(av), free(bv), cli_fail("out of memory"), -1;
    int64_t n_rel = 0, n_abs = 0;
    double max_rel_all = 0;
    for (int64_t i = 0; i < n; i++) {
        av[i] = a[i];
        bv[i] = b[i];
        int na = isnan(a[i]), nb = isnan(b[i]);
        if (na || nb) {
            if (na != nb) r->n_nan_mismatch++;
            continue;
        }
        double d = fabs((double)a[i] - (double)b[i]);
        if (isinf(a[i]) && a[i] == b[i]) d = 0;
        double rel = d == 0 ? 0 : (a[i] != 0 ? d / fabs((double)a[i]) : INFINITY);
        r->abs_v[n_abs++] = d;
        if (isinf(rel)) r->n_rel_inf++;
        else r->rel_v[n_rel++] = rel;
        if (rel > max_rel_all) max_rel_all = rel;
        if (d > atol && rel > rtol) r->n_failed++;
    }
    int bad = summarize_with_p(av, (size_t)n, &r->a, r->a_p) || summarize_with_p(bv, (size_t)n, &r->b, r->b_p) ||
              summarize_with_p(r->abs_v, (size_t)n_abs, &r->abs, r->abs_p) ||
              summarize_with_p(r->rel_v, (size_t)n_rel, &r->rel, r->rel_p);
    r->abs.n = (size_t)n_abs;
    r->rel.n = (size_t)n_rel;
    free(av);
    free(bv);
    if (bad) return cli_fail("out of memory"), -1;
    double rel_max = r->n_rel_inf ? INFINITY : r->rel.max;
    switch (stat) {
    case STAT_MAX:
        r->req_abs = r->abs.max, r->req_rel = rel_max;
        r->passed = !(r->abs.max > atol && rel_max > rtol);
        break;
    case STAT_MEAN:
        r->req_abs = r->abs.mean, r->req_rel = r->rel.mean;
        r->passed = !(r->abs.mean > atol && r->rel.mean > rtol);
        break;
    case STAT_MEDIAN:
        r->req_abs = r->abs.median, r->req_rel = r->rel.median;
        r->passed = !(r->abs.median > atol && r->rel.median > rtol);
        break;
    default:
        r->req_abs = r->abs.max, r->req_rel = max_rel_all;
        r->passed = r->n_failed == 0;
    }
    if (r->n_nan_mismatch) r->passed = 0;
    return 0;
}

static void free_errors(error_report *r)
{
    free(r->abs_v);
    free(r->rel_v);
}

/* "(0, 17)" for flat index i of a tensor */
static const char *index_str(const cli_tensor *t, int64_t i, char *buf, size_t cap)
{
    int64_t idx[KILN_TENSOR_MAX_RANK];
    for (int d = t->rank - 1; d >= 0; d--) {
        idx[d] = t->dims[d] ? i % t->dims[d] : 0;
        i = t->dims[d] ? i / t->dims[d] : 0;
    }
    size_t len = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < t->rank && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? ", " : "", (long long)idx[d]);
    if (len < cap) snprintf(buf + len, cap - len, ")");
    return buf;
}

static void print_stats(const char *indent, const char *title, const stats_summary *s, const double *p,
                        const cli_tensor *shape)
{
    char i0[96], i1[96];
    printf("%s%s | Stats: mean=%.5g, std-dev=%.5g, var=%.5g, median=%.5g, min=%.5g", indent, title, s->mean, s->stddev,
           s->stddev * s->stddev, s->median, s->min);
    if (shape) printf(" at %s", index_str(shape, (int64_t)s->argmin, i0, sizeof i0));
    printf(", max=%.5g", s->max);
    if (shape) printf(" at %s", index_str(shape, (int64_t)s->argmax, i1, sizeof i1));
    printf(", avg-magnitude=%.5g, p90=%.5g, p95=%.5g, p99=%.5g\n", s->avg_magnitude, p[0], p[1], p[2]);
}

static void print_histogram(const char *indent, const double *x, size_t n, double lo, double hi)
{
    enum { BINS = 10 };
    size_t c[BINS], top = 1;
    if (n == 0) return;
    if (!(hi > lo)) hi = lo + (lo == 0 ? 1e-12 : fabs(lo) * 1e-6);
    stats_histogram(x, n, lo, hi, BINS, c);
    for (int b = 0; b < BINS; b++)
        if (c[b] > top) top = c[b];
    printf("%s---- Histogram ----\n%sBin Range            |  Num Elems | Visualization\n", indent, indent);
    for (int b = 0; b < BINS; b++) {
        char bar[48];
        int w = (int)(40.0 * (double)c[b] / (double)top + 0.5);
        memset(bar, '#', (size_t)w);
        bar[w] = '\0';
        printf("%s(%-8.3g, %-8.3g) | %10zu | %s\n", indent, lo + (hi - lo) * b / BINS, lo + (hi - lo) * (b + 1) / BINS,
               c[b], bar);
    }
}

/* ---- per-layer comparison through the layer callback ---- */

typedef struct {
    char *output;       /* value name */
    int64_t numel;      /* per the run's batch */
    float *data;        /* dense copy */
} stored_layer;

typedef struct {
    const kiln_engine *engine;
    stored_layer *layers; /* A: one per layer of A's engine */
    int n;
} layer_store;

typedef struct {
    char *name, *output, *type;
    double abs_max, rel_max, scaled;   /* worst over iterations; scaled = max |A - B| / max |A| */
    int compared, passed, failed_iteration;
} layer_result;

typedef struct {
    const compare_options *o;
    const kiln_engine *engine;  /* B */
    layer_store *ref;           /* A */
    layer_result *res;          /* per layer of B */
    int n;
    int iteration;
    int failed;                 /* out of memory */
} layer_checker;

/* Dense copy of a layer's output (undoing a planner's channel-slice pitch). */
static float *densify(const kiln_layer_event *ev, const kiln_layer_info *li, int64_t *numel)
{
    int64_t per = 1;
    for (int d = 1; d < li->rank; d++) per *= li->dims[d];
    int64_t n = per * ev->batch;
    *numel = n;
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!x || !ev->output) return x;
    if (!ev->pitch || li->rank < 2) {
        memcpy(x, ev->output, sizeof(float) * (size_t)n);
        return x;
    }
    int64_t C = li->dims[li->rank - 1], pixels = C ? n / C : 0;
    for (int64_t p = 0; p < pixels; p++) memcpy(x + p * C, ev->output + p * ev->pitch, sizeof(float) * (size_t)C);
    return x;
}

static void store_layer(void *user, const kiln_layer_event *ev)
{
    layer_store *s = user;
    kiln_layer_info li;
    if (kiln_engine_layer_info(s->engine, ev->index, &li) != KILN_OK || ev->index >= s->n) return;
    if (!ev->output) return; /* a GPU engine's layer: its tensor stays on the GPU (times only) */
    stored_layer *l = &s->layers[ev->index];
    free(l->data);
    l->data = densify(ev, &li, &l->numel);
    if (!l->output) l->output = strdup(li.output);
}

static void check_layer(void *user, const kiln_layer_event *ev)
{
    layer_checker *c = user;
    kiln_layer_info li;
    if (kiln_engine_layer_info(c->engine, ev->index, &li) != KILN_OK || ev->index >= c->n) return;
    layer_result *r = &c->res[ev->index];
    if (!r->name) {
        r->name = strdup(li.name);
        r->output = strdup(li.output);
        r->type = strdup(li.type);
        r->passed = 1;
        r->failed_iteration = -1;
    }
    if (!ev->output) return; /* a GPU engine's layer: its tensor stays on the GPU (not compared) */
    const stored_layer *ref = NULL;
    for (int i = 0; i < c->ref->n; i++)
        if (c->ref->layers[i].output && !strcmp(c->ref->layers[i].output, li.output)) ref = &c->ref->layers[i];
    if (!ref || !ref->data) return;
    int64_t n;
    float *x = densify(ev, &li, &n);
    if (!x) {
        c->failed = 1;
        return;
    }
    if (n != ref->numel) {
        free(x);
        return;
    }
    error_report er;
    if (compute_errors(ref->data, x, n, c->o->atol, c->o->rtol, c->o->stat, &er) != 0) {
        c->failed = 1;
        free(x);
        return;
    }
    r->compared = 1;
    if (er.abs.max > r->abs_max) r->abs_max = er.abs.max;
    double rel = er.n_rel_inf ? INFINITY : er.rel.max;
    if (rel > r->rel_max) r->rel_max = rel;
    /* Intermediate tensors are judged on their own scale: element-wise relative errors explode next to zeros and
     * absolute errors grow with the magnitude, while reordered FP32 math (fusion) stays near 1e-6 of the scale. */
    double scale = fmax(fabs(er.a.min), fabs(er.a.max));
    double scaled = er.n_nan_mismatch || isnan(er.abs.max) ? INFINITY
                    : scale > 0                        ? er.abs.max / scale
                    : er.abs.max > 0                   ? INFINITY
                                                       : 0;
    if (scaled > r->scaled) r->scaled = scaled;
    if (!(scaled <= c->o->layer_tol) && r->passed) r->passed = 0, r->failed_iteration = c->iteration;
    free_errors(&er);
    free(x);
}

/* ---- inputs ---- */

static int input_engine_info(const side *s, int i, kiln_tensor_info *ti) { return kiln_engine_input_info(s->engine, i, ti) == KILN_OK; }

static int make_inputs(const compare_options *o, const side *ref, cli_tensor_list **iters, int *n_iters)
{
    *iters = NULL;
    *n_iters = 0;
    if (o->load_inputs) return cli_outputs_load(o->load_inputs, NULL, iters, n_iters) == 0 ? CLI_OK : CLI_FAIL;
    if (!ref) return CLI_OK; /* both sides are files: nothing to run */
    int n_in = kiln_engine_num_inputs(ref->engine);
    if (o->n_images) {
        kiln_tensor_info ti;
        input_engine_info(ref, 0, &ti);
        if (n_in != 1 || ti.rank != 4 || (ti.dims[3] != 3 && ti.dims[3] != 1))
            return cli_fail("photos need a model with one NHWC image input; use --input X.npy");
        *iters = calloc((size_t)o->n_images, sizeof(cli_tensor_list));
        if (!*iters) return cli_fail("out of memory");
        for (int k = 0; k < o->n_images; k++) {
            cli_tensor_list *l = &(*iters)[k];
            (*n_iters)++;
            l->t = calloc(1, sizeof(cli_tensor));
            if (!l->t) return cli_fail("out of memory");
            l->n = 1;
            cli_tensor *t = &l->t[0];
            t->name = strdup(ti.name);
            t->rank = 4;
            memcpy(t->dims, ti.dims, sizeof t->dims);
            t->dims[0] = 1;
            t->data = malloc(sizeof(float) * (size_t)cli_tensor_numel(t));
            if (!t->name || !t->data) return cli_fail("out of memory");
            kiln_image img;
            kiln_status st = kiln_image_load(o->images[k], &img);
            if (st == KILN_OK)
                st = kiln_image_to_tensor(&img, (int)ti.dims[1], (int)ti.dims[2], (int)ti.dims[3], o->resize,
                                          o->preprocess, t->data);
            kiln_image_free(&img);
            if (st != KILN_OK) return cli_fail_library(st);
        }
        return CLI_OK;
    }
    if (o->n_npy) {
        *iters = calloc(1, sizeof(cli_tensor_list));
        if (!*iters) return cli_fail("out of memory");
        *n_iters = 1;
        cli_tensor_list *l = &(*iters)[0];
        l->t = calloc((size_t)o->n_npy, sizeof(cli_tensor));
        if (!l->t) return cli_fail("out of memory");
        for (int j = 0; j < o->n_npy; j++) {
            const char *spec = o->npy[j], *eq = strchr(spec, '='), *file = spec;
            cli_tensor *t = &l->t[l->n++];
            kiln_tensor_info ti;
            if (eq && eq != spec && !memchr(spec, '/', (size_t)(eq - spec))) {
                t->name = strndup(spec, (size_t)(eq - spec));
                file = eq + 1;
            } else {
                t->name = strdup(input_engine_info(ref, j, &ti) ? ti.name : "input");
            }
            int64_t dims[KILN_MAX_RANK];
            kiln_status st = kiln_npy_read(file, &t->data, &t->rank, dims);
            if (st != KILN_OK) return cli_fail_library(st);
            for (int d = 0; d < t->rank && d < KILN_TENSOR_MAX_RANK; d++) t->dims[d] = dims[d];
            if (t->rank < 1) return cli_fail("%s: a tensor with a batch dimension is needed", file);
        }
        return CLI_OK;
    }
    int n = (int)o->iterations;
    *iters = calloc((size_t)n, sizeof(cli_tensor_list));
    if (!*iters) return cli_fail("out of memory");
    for (int k = 0; k < n; k++) {
        cli_tensor_list *l = &(*iters)[k];
        (*n_iters)++;
        l->t = calloc((size_t)(n_in > 0 ? n_in : 1), sizeof(cli_tensor));
        if (!l->t) return cli_fail("out of memory");
        for (int i = 0; i < n_in; i++) {
            kiln_tensor_info ti;
            input_engine_info(ref, i, &ti);
            cli_tensor *t = &l->t[l->n++];
            t->name = strdup(ti.name);
            t->rank = ti.rank;
            memcpy(t->dims, ti.dims, sizeof t->dims);
            t->dims[0] = o->batch;
            int64_t numel = cli_tensor_numel(t);
            t->data = malloc(sizeof(float) * (size_t)(numel > 0 ? numel : 1));
            if (!t->name || !t->data) return cli_fail("out of memory");
            float lo = -1, hi = 1;
            for (int r = 0; r < o->n_ranges; r++)
                if (!o->range[r].name[0] || !strcmp(o->range[r].name, ti.name)) lo = o->range[r].lo, hi = o->range[r].hi;
            cli_fill_uniform(t->data, (size_t)numel, (uint64_t)(o->seed + k) * 1000003u + (uint64_t)i * 7919u, lo, hi);
        }
    }
    return CLI_OK;
}

/* ---- the comparison ---- */

static const cli_tensor *find_tensor(const cli_tensor_list *l, const char *name, int fallback_index)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->t[i].name, name)) return &l->t[i];
    return fallback_index < l->n ? &l->t[fallback_index] : NULL;
}

/* Top-k of one sample, highest first. */
static void top_k(const float *s, int64_t n, int k, int64_t *best)
{
    for (int j = 0; j < k; j++) best[j] = -1;
    for (int64_t i = 0; i < n; i++) {
        int j = k;
        while (j > 0 && (best[j - 1] < 0 || s[i] > s[best[j - 1]])) j--;
        if (j >= k) continue;
        memmove(best + j + 1, best + j, sizeof(int64_t) * (size_t)(k - j - 1));
        best[j] = i;
    }
}

typedef struct {
    int64_t samples, top1, top5;
} agreement;

static void count_agreement(const cli_tensor *a, const cli_tensor *b, agreement *g)
{
    if (a->rank != 2 || a->dims[1] < 2) return;
    int64_t classes = a->dims[1];
    int k = classes < 5 ? (int)classes : 5;
    int64_t ba[5], bb[5];
    for (int64_t s = 0; s < a->dims[0]; s++) {
        top_k(a->data + s * classes, classes, k, ba);
        top_k(b->data + s * classes, classes, k, bb);
        g->samples++;
        g->top1 += ba[0] == bb[0];
        int same = 1;
        for (int i = 0; i < k && same; i++) {
            int found = 0;
            for (int j = 0; j < k; j++) found |= ba[i] == bb[j];
            same = found;
        }
        g->top5 += same;
    }
}

static void json_errors(const error_report *e)
{
    printf("\"elements\": %lld, \"failedElements\": %lld, \"nanMismatches\": %lld, "
           "\"abs\": {\"mean\": %.9g, \"stddev\": %.9g, \"median\": %.9g, \"max\": %.9g, \"p90\": %.9g, \"p95\": %.9g, "
           "\"p99\": %.9g}, \"rel\": {\"mean\": %.9g, \"stddev\": %.9g, \"median\": %.9g, \"max\": %.9g, \"p90\": %.9g, "
           "\"p95\": %.9g, \"p99\": %.9g, \"infinite\": %lld}, \"minRequiredAtol\": %.9g, \"minRequiredRtol\": %.9g",
           (long long)e->n, (long long)e->n_failed, (long long)e->n_nan_mismatch, e->abs.mean, e->abs.stddev,
           e->abs.median, e->abs.max, e->abs_p[0], e->abs_p[1], e->abs_p[2], e->rel.mean, e->rel.stddev, e->rel.median,
           e->rel.max, e->rel_p[0], e->rel_p[1], e->rel_p[2], (long long)e->n_rel_inf, e->req_abs,
           isinf(e->req_rel) ? 1e308 : e->req_rel);
}

static int compare(compare_options *o)
{
    side A, B;
    memset(&A, 0, sizeof A);
    memset(&B, 0, sizeof B);
    cli_tensor_list *inputs = NULL, *out_a = NULL, *out_b = NULL;
    int n_iters = 0, rc = CLI_OK, have_b = o->b != NULL;
    layer_store store = {0};
    layer_checker checker = {0};
    int batch_max = (int)o->batch;
    /* batch of .npy inputs: the model sides are built for it */
    for (int j = 0; j < o->n_npy; j++) {
        const char *spec = o->npy[j], *eq = strchr(spec, '=');
        const char *file = eq && eq != spec && !memchr(spec, '/', (size_t)(eq - spec)) ? eq + 1 : spec;
        float *d = NULL;
        int rank;
        int64_t dims[KILN_MAX_RANK];
        if (kiln_npy_read(file, &d, &rank, dims) == KILN_OK && rank > 0 && dims[0] > batch_max && dims[0] <= 65536)
            batch_max = (int)dims[0];
        free(d);
    }
    if ((rc = open_side(&A, o->a, "A", batch_max, o->threads)) != CLI_OK) goto done;
    if (have_b && (rc = open_side(&B, o->b, "B", batch_max, o->threads)) != CLI_OK) goto done;
    if (o->per_layer && (A.is_file || !have_b || B.is_file)) {
        rc = cli_usage("compare", "--per-layer needs two kiln runs (models or engines), not outputs files");
        goto done;
    }
    const side *runner = !A.is_file ? &A : (have_b && !B.is_file ? &B : NULL);
    if ((rc = make_inputs(o, runner, &inputs, &n_iters)) != CLI_OK) goto done;
    if (!runner) n_iters = A.n_loaded;
    if (A.is_file && have_b && B.is_file && A.n_loaded != B.n_loaded) {
        rc = cli_fail("%s has %d iterations, %s has %d", A.path, A.n_loaded, B.path, B.n_loaded);
        goto done;
    }
    if (A.is_file && runner && A.n_loaded != n_iters) {
        rc = cli_fail("%s holds %d iteration%s of outputs but %d iteration%s of inputs are given (use the same photos, "
                      "--input files, or --seed/--iterations as when it was saved)",
                      A.path, A.n_loaded, A.n_loaded == 1 ? "" : "s", n_iters, n_iters == 1 ? "" : "s");
        goto done;
    }
    if (have_b && B.is_file && !A.is_file && B.n_loaded != n_iters) {
        rc = cli_fail("%s holds %d iterations of outputs but %d iterations of inputs are given", B.path, B.n_loaded,
                      n_iters);
        goto done;
    }
    if (o->save_inputs && inputs && cli_outputs_save(o->save_inputs, inputs, n_iters) != 0) {
        rc = CLI_FAIL;
        goto done;
    }
    out_a = calloc((size_t)(n_iters > 0 ? n_iters : 1), sizeof(cli_tensor_list));
    out_b = calloc((size_t)(n_iters > 0 ? n_iters : 1), sizeof(cli_tensor_list));
    if (!out_a || !out_b) {
        rc = cli_fail("out of memory");
        goto done;
    }
    if (o->per_layer) {
        store.engine = A.engine;
        store.n = kiln_engine_num_layers(A.engine);
        store.layers = calloc((size_t)(store.n > 0 ? store.n : 1), sizeof(stored_layer));
        checker.o = o;
        checker.engine = B.engine;
        checker.ref = &store;
        checker.n = kiln_engine_num_layers(B.engine);
        checker.res = calloc((size_t)(checker.n > 0 ? checker.n : 1), sizeof(layer_result));
        if (!store.layers || !checker.res) {
            rc = cli_fail("out of memory");
            goto done;
        }
        kiln_context_set_layer_callback(A.ctx, store_layer, &store);
        kiln_context_set_layer_callback(B.ctx, check_layer, &checker);
    }
    /* run */
    for (int k = 0; k < n_iters; k++) {
        if (A.is_file) {
            /* borrow: moved out of A.loaded so both lists are freed once */
            out_a[k] = A.loaded[k];
            memset(&A.loaded[k], 0, sizeof A.loaded[k]);
        } else if ((rc = run_side(&A, &inputs[k], &out_a[k])) != CLI_OK) {
            goto done;
        }
        if (!have_b) continue;
        checker.iteration = k;
        if (B.is_file) {
            out_b[k] = B.loaded[k];
            memset(&B.loaded[k], 0, sizeof B.loaded[k]);
        } else if ((rc = run_side(&B, &inputs[k], &out_b[k])) != CLI_OK) {
            goto done;
        }
        if (checker.failed) {
            rc = cli_fail("out of memory comparing layers");
            goto done;
        }
    }
    if (o->save_outputs) {
        cli_tensor_list *save = !A.is_file ? out_a : out_b;
        if ((A.is_file && (!have_b || B.is_file)) || cli_outputs_save(o->save_outputs, save, n_iters) != 0) {
            rc = A.is_file && (!have_b || B.is_file) ? cli_usage("compare", "--save-outputs needs a model or engine to run")
                                                     : CLI_FAIL;
            goto done;
        }
        if (!o->quiet && !o->json) fprintf(stderr, "kiln: saved the outputs of %s to %s\n", !A.is_file ? "A" : "B", o->save_outputs);
    }
    if (!have_b) goto done;

    /* compare */
    int passed_iters = 0;
    agreement agree = {0};
    const int detail = !o->quiet && !o->json;
    if (o->json)
        printf("{\n  \"schema\": \"kiln-compare\",\n  \"version\": 1,\n  \"a\": \"%s\",\n  \"b\": \"%s\",\n  \"atol\": %.9g,\n"
               "  \"rtol\": %.9g,\n  \"checkErrorStat\": \"%s\",\n  \"iterations\": [",
               A.path, B.path, o->atol, o->rtol, stat_names[o->stat]);
    for (int k = 0; k < n_iters; k++) {
        int iter_ok = 1;
        if (detail) printf("[I] Comparing Output(s) | A: %s vs. B: %s | iteration %d\n", A.path, B.path, k);
        if (o->json) printf("%s\n    {\"index\": %d, \"outputs\": [", k ? "," : "", k);
        char failed_names[1024] = "";
        for (int i = 0; i < out_b[k].n; i++) {
            const cli_tensor *tb = &out_b[k].t[i];
            const cli_tensor *ta = find_tensor(&out_a[k], tb->name, i);
            if (!ta || cli_tensor_numel(ta) != cli_tensor_numel(tb)) {
                rc = cli_fail("output '%s': %s", tb->name, ta ? "A and B have different shapes" : "missing in A");
                goto done;
            }
            error_report er;
            if (compute_errors(ta->data, tb->data, cli_tensor_numel(ta), o->atol, o->rtol, o->stat, &er) != 0) {
                rc = CLI_FAIL;
                goto done;
            }
            count_agreement(ta, tb, &agree);
            char sh[128];
            if (detail && (n_iters <= 3 || !er.passed)) { /* details for few iterations or failures */
                printf("[I]     Comparing Output: '%s' %s\n", tb->name, cli_shape(sh, sizeof sh, tb->rank, tb->dims, tb->dims[0]));
                printf("[I]     Tolerance: [abs=%g, rel=%g] | Checking %s error\n", o->atol, o->rtol, stat_names[o->stat]);
                print_stats("[I]         ", "A", &er.a, er.a_p, ta);
                print_stats("[I]         ", "B", &er.b, er.b_p, tb);
                printf("[I]         Error Metrics: %s\n", tb->name);
                printf("[I]             Minimum Required Tolerance: %s error | [abs=%.5g] OR [rel=%.5g]\n",
                       stat_names[o->stat], er.req_abs, er.req_rel);
                print_stats("[I]             ", "Absolute Difference", &er.abs, er.abs_p, NULL);
                print_histogram("[I]                 ", er.abs_v, er.abs.n, 0, er.abs.max);
                print_stats("[I]             ", "Relative Difference", &er.rel, er.rel_p, NULL);
                if (er.n_rel_inf) printf("[I]                 (%lld elements with A == 0 and B != 0: infinite relative error)\n", (long long)er.n_rel_inf);
                print_histogram("[I]                 ", er.rel_v, er.rel.n, 0, er.rel.max);
                if (er.n_nan_mismatch) printf("[E]         %lld elements are NaN on one side only\n", (long long)er.n_nan_mismatch);
            }
            if (detail) {
                if (er.passed)
                    printf("[I]         PASSED | Output: '%s' | Difference is within tolerance (rel=%g, abs=%g)\n",
                           tb->name, o->rtol, o->atol);
                else
                    printf("[E]         FAILED | Output: '%s' | Difference exceeds tolerance (rel=%g, abs=%g): max abs %.5g, "
                           "max rel %.5g, %lld of %lld elements over both\n",
                           tb->name, o->rtol, o->atol, er.abs.max, er.rel.max, (long long)er.n_failed, (long long)er.n);
            }
            if (o->json) {
                printf("%s\n      {\"name\": ", i ? "," : "");
                bench_json_string(stdout, tb->name);
                printf(", \"dimensions\": \"%s\", \"passed\": %s, ", cli_shape(sh, sizeof sh, tb->rank, tb->dims, tb->dims[0]),
                       er.passed ? "true" : "false");
                json_errors(&er);
                printf("}");
            }
            if (!er.passed) {
                iter_ok = 0;
                snprintf(failed_names + strlen(failed_names), sizeof failed_names - strlen(failed_names), "%s'%s'",
                         failed_names[0] ? ", " : "", tb->name);
            }
            free_errors(&er);
        }
        if (o->json) printf("\n    ], \"passed\": %s}", iter_ok ? "true" : "false");
        if (detail) {
            if (iter_ok) printf("[I]     PASSED | All outputs matched | iteration %d\n", k);
            else printf("[E]     FAILED | Mismatched outputs: [%s] | iteration %d\n", failed_names, k);
        }
        passed_iters += iter_ok;
    }
    /* per-layer */
    int first_bad = -1;
    if (o->per_layer)
        for (int i = 0; i < checker.n; i++)
            if (checker.res[i].compared && !checker.res[i].passed) {
                first_bad = i;
                break;
            }
    if (o->json) {
        printf("\n  ],\n  \"passedIterations\": %d,\n  \"totalIterations\": %d,\n", passed_iters, n_iters);
        if (agree.samples)
            printf("  \"agreement\": {\"samples\": %lld, \"top1\": %lld, \"top5\": %lld},\n", (long long)agree.samples,
                   (long long)agree.top1, (long long)agree.top5);
        if (o->per_layer) {
            printf("  \"perLayer\": {\"firstFailing\": ");
            if (first_bad >= 0) bench_json_string(stdout, checker.res[first_bad].name);
            else printf("null");
            printf(", \"layers\": [");
            int first = 1;
            for (int i = 0; i < checker.n; i++) {
                const layer_result *l = &checker.res[i];
                if (!l->name) continue;
                printf("%s\n    {\"index\": %d, \"name\": ", first ? "" : ",", i);
                first = 0;
                bench_json_string(stdout, l->name);
                printf(", \"output\": ");
                bench_json_string(stdout, l->output);
                printf(", \"compared\": %s, \"passed\": %s, \"absMax\": %.9g, \"relMax\": %.9g, \"scaledMax\": %.9g}",
                       l->compared ? "true" : "false", l->passed ? "true" : "false", l->abs_max,
                       isinf(l->rel_max) ? 1e308 : l->rel_max, isinf(l->scaled) ? 1e308 : l->scaled);
            }
            printf("\n  ]},\n");
        }
        printf("  \"passed\": %s\n}\n", passed_iters == n_iters && first_bad < 0 ? "true" : "false");
    } else {
        if (o->per_layer && !o->quiet) {
            int w = 5;
            for (int i = 0; i < checker.n; i++)
                if (checker.res[i].name && (int)strlen(checker.res[i].name) > w) w = (int)strlen(checker.res[i].name);
            if (w > 90) w = 90;
            printf("\n=== Per-layer comparison (B's layers; A's tensor of the same name) ===\n");
            printf("(a layer fails when max |A-B| / max |A| > %g, --layer-tol)\n", o->layer_tol);
            printf("%4s  %-*s | %11s | %11s | %15s | %s\n", "#", w, "Layer", "max |A-B|", "max rel", "max|A-B|/max|A|",
                   "result");
            for (int i = 0; i < checker.n; i++) {
                const layer_result *l = &checker.res[i];
                if (!l->name) continue;
                if (!l->compared) printf("%4d  %-*s | %11s | %11s | %15s | not in A\n", i, w, l->name, "-", "-", "-");
                else printf("%4d  %-*s | %11.4g | %11.4g | %15.4g | %s\n", i, w, l->name, l->abs_max, l->rel_max,
                            l->scaled, l->passed ? "ok" : "FAILED");
            }
        }
        if (o->per_layer) {
            if (first_bad >= 0)
                printf("[E] First layer over tolerance: '%s' (layer %d, %s, output '%s'; max |A-B| %.5g = %.3g of max |A|, "
                       "iteration %d)\n",
                       checker.res[first_bad].name, first_bad, checker.res[first_bad].type, checker.res[first_bad].output,
                       checker.res[first_bad].abs_max, checker.res[first_bad].scaled,
                       checker.res[first_bad].failed_iteration);
            else printf("[I] Every compared layer is within tolerance\n");
        }
        if (agree.samples)
            printf("[I] Top-1 agreement: %lld/%lld (%.1f%%) | Top-5 agreement (same classes): %lld/%lld (%.1f%%)\n",
                   (long long)agree.top1, (long long)agree.samples, 100.0 * (double)agree.top1 / (double)agree.samples,
                   (long long)agree.top5, (long long)agree.samples, 100.0 * (double)agree.top5 / (double)agree.samples);
        printf("[%c] Accuracy Summary | A vs. B | Passed: %d/%d iterations | Pass Rate: %.1f%%\n",
               passed_iters == n_iters ? 'I' : 'E', passed_iters, n_iters,
               n_iters ? 100.0 * passed_iters / n_iters : 100.0);
        printf("%s\n", passed_iters == n_iters && first_bad < 0 ? "PASSED" : "FAILED");
    }
    if (passed_iters != n_iters || first_bad >= 0) rc = CLI_FAIL;
done:
    for (int k = 0; k < n_iters; k++) {
        if (inputs) cli_tensor_list_free(&inputs[k]);
        if (out_a) cli_tensor_list_free(&out_a[k]);
        if (out_b) cli_tensor_list_free(&out_b[k]);
    }
    free(inputs);
    free(out_a);
    free(out_b);
    for (int i = 0; i < store.n && store.layers; i++) free(store.layers[i].data), free(store.layers[i].output);
    free(store.layers);
    for (int i = 0; i < checker.n && checker.res; i++)
        free(checker.res[i].name), free(checker.res[i].output), free(checker.res[i].type);
    free(checker.res);
    close_side(&A);
    close_side(&B);
    return rc;
}

static int parse_range(const char *s, compare_options *o)
{
    if (o->n_ranges >= MAX_RANGES) return -1;
    const char *colon = strrchr(s, ':');
    char name[128] = "";
    if (colon) {
        if ((size_t)(colon - s) >= sizeof name) return -1;
        memcpy(name, s, (size_t)(colon - s));
        name[colon - s] = '\0';
        s = colon + 1;
    }
    if (*s == '[') s++;
    char *end;
    double lo = strtod(s, &end);
    if (end == s || *end != ',') return -1;
    s = end + 1;
    double hi = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "]"))) return -1;
    if (!(lo <= hi)) return -1;
    snprintf(o->range[o->n_ranges].name, sizeof o->range[0].name, "%s", name);
    o->range[o->n_ranges].lo = (float)lo;
    o->range[o->n_ranges].hi = (float)hi;
    o->n_ranges++;
    return 0;
}

static int run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "compare", argc, argv);
    compare_options o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.iterations = 1;
    o.batch = 1;
    o.threads = 1;
    o.atol = 1e-5;
    o.rtol = 1e-5;
    o.layer_tol = 1e-4;
    o.preprocess = KILN_PREPROCESS_TF;
    o.resize = KILN_RESIZE_SQUASH;
    o.images = calloc((size_t)argc, sizeof(char *));
    o.npy = calloc((size_t)argc, sizeof(char *));
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0, rc = CLI_OK;
    long v;
    char *end;
    if (!o.images || !o.npy) rc = cli_fail("out of memory");
    while (rc == CLI_OK && cli_args_next(&a)) {
        if (cli_positional(&a)) {
            if (n_pos < 2) pos[n_pos++] = a.arg;
            else o.images[o.n_images++] = (char *)a.arg;
        } else if (cli_option(&a, "--input", "-i")) {
            o.npy[o.n_npy++] = a.value;
        } else if (cli_option(&a, "--seed", NULL)) {
            if (!a.error && cli_parse_int(a.value, 0, 0x7fffffffL, &v) != 0)
                rc = cli_usage("compare", "--seed wants a number from 0 to 2147483647, not '%s'", a.value);
            o.seed = v;
        } else if (cli_option(&a, "--val-range", NULL)) {
            if (!a.error && parse_range(a.value, &o) != 0)
                rc = cli_usage("compare", "--val-range wants [NAME:]LO,HI with LO <= HI, not '%s'", a.value);
        } else if (cli_option(&a, "--iterations", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 100000, &v) != 0)
                rc = cli_usage("compare", "--iterations wants a number from 1 to 100000, not '%s'", a.value);
            o.iterations = v;
        } else if (cli_option(&a, "--batch", "-b")) {
            if (!a.error && cli_parse_int(a.value, 1, 65536, &v) != 0)
                rc = cli_usage("compare", "--batch wants a number from 1 to 65536, not '%s'", a.value);
            o.batch = v;
        } else if (cli_option(&a, "--threads", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 4096, &v) != 0)
                rc = cli_usage("compare", "--threads wants a number from 1 to 4096, not '%s'", a.value);
            o.threads = v;
        } else if (cli_option(&a, "--preprocess", NULL)) {
            if (!a.error && kiln_preprocess_mode_parse(a.value, &o.preprocess) != 0)
                rc = cli_usage("compare", "--preprocess is one of tf, caffe, torch, raw; not '%s'", a.value);
        } else if (cli_option(&a, "--resize", NULL)) {
            if (!a.error && kiln_resize_mode_parse(a.value, &o.resize) != 0)
                rc = cli_usage("compare", "--resize is squash or crop; not '%s'", a.value);
        } else if (cli_option(&a, "--atol", NULL)) {
            if (!a.error && ((o.atol = strtod(a.value, &end)) < 0 || *end || end == a.value))
                rc = cli_usage("compare", "--atol wants a number >= 0, not '%s'", a.value);
        } else if (cli_option(&a, "--rtol", NULL)) {
            if (!a.error && ((o.rtol = strtod(a.value, &end)) < 0 || *end || end == a.value))
                rc = cli_usage("compare", "--rtol wants a number >= 0, not '%s'", a.value);
        } else if (cli_option(&a, "--layer-tol", NULL)) {
            if (!a.error && ((o.layer_tol = strtod(a.value, &end)) < 0 || *end || end == a.value))
                rc = cli_usage("compare", "--layer-tol wants a number >= 0, not '%s'", a.value);
        } else if (cli_option(&a, "--check-error-stat", NULL)) {
            int found = -1;
            for (int i = 0; i < 4 && !a.error; i++)
                if (!strcmp(a.value, stat_names[i])) found = i;
            if (!a.error && found < 0)
                rc = cli_usage("compare", "--check-error-stat is one of elemwise, max, mean, median; not '%s'", a.value);
            o.stat = found < 0 ? 0 : found;
        } else if (cli_flag(&a, "--per-layer", NULL)) {
            o.per_layer = 1;
        } else if (cli_option(&a, "--save-outputs", NULL)) {
            o.save_outputs = a.value;
        } else if (cli_option(&a, "--load-outputs", NULL)) {
            o.load_outputs = a.value;
        } else if (cli_option(&a, "--save-inputs", NULL)) {
            o.save_inputs = a.value;
        } else if (cli_option(&a, "--load-inputs", NULL)) {
            o.load_inputs = a.value;
        } else if (cli_flag(&a, "--json", NULL)) {
            o.json = 1;
        } else if (cli_flag(&a, "--quiet", "-q")) {
            o.quiet = 1;
        } else {
            rc = cli_unknown(&a);
        }
        if (a.error) rc = CLI_USAGE;
    }
    if (rc == CLI_OK) {
        if (o.load_outputs) {
            /* the loaded file is A; a second positional is really the first photo */
            if (pos[1]) {
                memmove(o.images + 1, o.images, sizeof(char *) * (size_t)o.n_images);
                o.images[0] = (char *)pos[1];
                o.n_images++;
            }
            o.a = o.load_outputs;
            o.b = pos[0];
        } else {
            o.a = pos[0];
            o.b = pos[1];
        }
        if (!o.a) rc = cli_usage("compare", "missing A (a model, an engine or an outputs file)");
        else if (!o.b && !o.save_outputs) rc = cli_usage("compare", "missing B (or --save-outputs F to only record A)");
        else if (o.n_images && o.n_npy) rc = cli_usage("compare", "give photos or --input files, not both");
    }
    if (rc == CLI_OK) rc = compare(&o);
    free(o.images);
    free(o.npy);
    return rc;
}

const cli_command cli_compare_command = {"compare", "compare two runs (model, engine, saved outputs) like Polygraphy",
                                         help, run};
