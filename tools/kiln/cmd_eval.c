/* kiln eval MODEL_OR_ENGINE DIR: top-1/top-5 accuracy over labeled photos.
 *
 * Labels come from the layout (ImageNet validation: one sub-folder per class, named by its wnid, its index or any
 * label line) or from --labels-csv (file,label per line; ILSVRC's LOC_val_solution.csv works as is). A class name
 * is resolved to an index as: an integer; else the label file line that starts with it (wnid) or equals it; else,
 * for folders only, the folder's position in sorted order (Keras' image_dataset_from_directory convention). */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "image/image.h"
#include "progress.h"

static const char help[] =
    "usage: kiln eval MODEL_OR_ENGINE DIR [--labels-csv FILE] [--labels FILE] [--preprocess MODE] [--resize MODE]\n"
    "                 [--batch N] [--threads N] [--limit N] [--json] [--quiet]\n"
    "\n"
    "Classify every photo under DIR and report top-1 and top-5 accuracy and images/s. DIR is either\n"
    "  the ImageNet validation layout: one sub-folder per class (named by wnid, e.g. n01440764, by class index, or\n"
    "  by a label line), photos inside (.jpg .jpeg .png .bmp); or\n"
    "  a flat folder with --labels-csv FILE: lines 'file,label' (a header line is skipped; the label's first word\n"
    "  counts, so ILSVRC's LOC_val_solution.csv 'ImageId,n01751748 ...' works; a file without extension gets .JPEG).\n"
    "A class name resolves to: an integer index; else the line of the label file (--labels, $KILN_LABELS or the\n"
    "default synset_words.txt) that starts with it or equals it; else (folders only) its place among the sorted\n"
    "folder names, as Keras' image_dataset_from_directory numbers classes.\n"
    "\n"
    "options:\n"
    "  --labels-csv FILE    labels per file instead of per folder\n"
    "  --labels FILE        the model's label file (line i = class i), to resolve wnids and names\n"
    "  --preprocess MODE    tf (default), caffe, torch, raw: as in 'kiln predict'\n"
    "  --resize MODE        squash (default) or crop: as in 'kiln predict'\n"
    "  --batch N            photos per run (default 1; a model file is built for it, an engine must accept it)\n"
    "  --threads N          worker threads when building a model in memory (default 1)\n"
    "  --limit N            evaluate only the first N photos\n"
    "  --json               the result as JSON on stdout (schema in docs/BENCH.md)\n"
    "  --quiet              print only the result line\n"
    "  -h, --help           this text\n"
    "\n"
    "A progress bar is drawn on stderr when it is a terminal (never in pipes, with --quiet or --json).\n"
    "Exit status 1 when a photo cannot be read (it is counted as failed, not as wrong).\n";

typedef struct {
    char *path;  /* owned */
    int label;   /* class index */
} sample;

typedef struct {
    sample *s;
    int n, cap;
} sample_list;

static int add_sample(sample_list *l, const char *path, int label)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        sample *s = realloc(l->s, sizeof(sample) * (size_t)cap);
        if (!s) return -1;
        l->s = s;
        l->cap = cap;
    }
    l->s[l->n].path = strdup(path);
    l->s[l->n].label = label;
    return l->s[l->n++].path ? 0 : -1;
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png") || !strcasecmp(dot, ".bmp");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entries of dir (files or directories per want_dirs); *names owned by the caller. */
static int list_dir(const char *dir, int want_dirs, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return cli_fail("%s: cannot open folder: %s", dir, strerror(errno)), -1;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[8192];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (want_dirs ? !S_ISDIR(sb.st_mode) : !(S_ISREG(sb.st_mode) && is_image_name(e->d_name))) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(*names, sizeof(char *) * (size_t)cap);
            if (!nn) break;
            *names = nn;
        }
        (*names)[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof(char *), cmp_str);
    return 0;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Class index of `name`: integer, else a label line starting with "name " or equal to it; -1 if none. */
static int resolve(const char *name, const cli_labels *labels, int64_t classes)
{
    char *end;
    long v = strtol(name, &end, 10);
    if (*name && !*end && v >= 0 && v < classes) return (int)v;
    size_t len = strlen(name);
    for (int64_t i = 0; i < classes && len; i++) {
        const char *l = cli_label(labels, classes, i);
        if (l && (!strcmp(l, name) || (!strncmp(l, name, len) && (l[len] == ' ' || l[len] == '\t')))) return (int)i;
    }
    return -1;
}

static int collect_folders(const char *dir, const cli_labels *labels, int64_t classes, sample_list *out, int *by_order)
{
    char **classes_dirs;
    int n_dirs;
    if (list_dir(dir, 1, &classes_dirs, &n_dirs) != 0) return CLI_FAIL;
    if (n_dirs == 0) {
        free_names(classes_dirs, n_dirs);
        return cli_fail("%s has no sub-folders; use the ImageNet layout (one folder per class) or --labels-csv", dir);
    }
    int rc = CLI_OK;
    *by_order = 0;
    int *idx = malloc(sizeof(int) * (size_t)n_dirs);
    if (!idx) return free_names(classes_dirs, n_dirs), cli_fail("out of memory");
    for (int i = 0; i < n_dirs; i++) {
        idx[i] = resolve(classes_dirs[i], labels, classes);
        if (idx[i] < 0) *by_order = 1;
    }
    if (*by_order) {
        if (n_dirs > classes)
            rc = cli_fail("%s has %d class folders but the model has %lld classes, and the folder names are not class "
                          "indices or labels (--labels FILE)", dir, n_dirs, (long long)classes);
        for (int i = 0; i < n_dirs; i++) idx[i] = i;
    }
    for (int i = 0; i < n_dirs && rc == CLI_OK; i++) {
        char sub[8192];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, classes_dirs[i]) >= sizeof sub) {
            rc = cli_fail("%s/%s: path too long", dir, classes_dirs[i]);
            break;
        }
        char **files;
        int n_files;
        if (list_dir(sub, 0, &files, &n_files) != 0) {
            rc = CLI_FAIL;
            break;
        }
        for (int j = 0; j < n_files && rc == CLI_OK; j++) {
            char path[16384];
            snprintf(path, sizeof path, "%s/%s", sub, files[j]); /* fits: sub < 8192, names < 256 */
            if (add_sample(out, path, idx[i]) != 0) rc = cli_fail("out of memory");
        }
        free_names(files, n_files);
    }
    free(idx);
    free_names(classes_dirs, n_dirs);
    return rc;
}

static int collect_csv(const char *dir, const char *csv, const cli_labels *labels, int64_t classes, sample_list *out)
{
    FILE *f = fopen(csv, "r");
    if (!f) return cli_fail("%s: cannot open: %s", csv, strerror(errno));
    char line[8192];
    int lineno = 0, rc = CLI_OK;
    while (rc == CLI_OK && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        char *comma = strchr(line, ',');
        if (!comma) {
            rc = cli_fail("%s:%d: expected 'file,label'", csv, lineno);
            break;
        }
        *comma = '\0';
        char *lab = comma + 1;
        while (isspace((unsigned char)*lab)) lab++;
        lab[strcspn(lab, " \t,")] = '\0';
        int cls = resolve(lab, labels, classes);
        if (cls < 0) {
            if (lineno == 1) continue; /* a header */
            rc = cli_fail("%s:%d: label '%s' is neither a class index below %lld nor in the label file%s", csv, lineno,
                          lab, (long long)classes, labels->n ? "" : " (no label file: --labels FILE)");
            break;
        }
        char path[16384];
        int len = snprintf(path, sizeof path, "%s/%s", dir, line);
        struct stat sb;
        if (!strchr(line, '.') && stat(path, &sb) != 0) len = snprintf(path, sizeof path, "%s/%s.JPEG", dir, line);
        if (len < 0 || (size_t)len >= sizeof path) {
            rc = cli_fail("%s:%d: path too long", csv, lineno);
            break;
        }
        if (add_sample(out, path, cls) != 0) rc = cli_fail("out of memory");
    }
    fclose(f);
    return rc;
}

typedef struct {
    const char *model, *dir, *csv, *labels;
    kiln_preprocess_mode preprocess;
    kiln_resize_mode resize;
    long batch, threads, limit;
    int json, quiet;
} eval_options;

static int eval(const eval_options *o)
{
    cli_labels labels;
    if (cli_labels_load(o->labels, &labels) != CLI_OK) return CLI_FAIL;
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_min = opt.batch_max = (int)o->batch;
    opt.threads = (int)o->threads;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    float *input = NULL, *output = NULL;
    sample_list list = {0};
    int rc = cli_open_engine(o->model, &opt, &engine);
    kiln_tensor_info in, out;
    if (rc != CLI_OK) goto done;
    if (kiln_engine_num_inputs(engine) != 1 || kiln_engine_input_info(engine, 0, &in) != KILN_OK || in.rank != 4 ||
        (in.dims[3] != 3 && in.dims[3] != 1) || kiln_engine_num_outputs(engine) < 1) {
        rc = cli_fail("'kiln eval' needs a model with one NHWC image input (3 or 1 channels) and a class output");
        goto done;
    }
    kiln_engine_output_info(engine, 0, &out);
    const int64_t classes = cli_sample_numel(out.rank, out.dims);
    if (o->batch < in.batch_min || o->batch > in.batch_max) {
        rc = cli_fail("--batch %ld is outside the engine's batch range %d..%d", o->batch, in.batch_min, in.batch_max);
        goto done;
    }
    int by_order = 0;
    rc = o->csv ? collect_csv(o->dir, o->csv, &labels, classes, &list)
                : collect_folders(o->dir, &labels, classes, &list, &by_order);
    if (rc != CLI_OK) goto done;
    if (list.n == 0) {
        rc = cli_fail("%s: no photos found (.jpg .jpeg .png .bmp)", o->dir);
        goto done;
    }
    if (by_order && !o->quiet && !o->json)
        fprintf(stderr, "kiln: folder names are not class indices or labels; classes are numbered by sorted folder "
                        "name (0, 1, ...)\n");
    int n = o->limit > 0 && o->limit < list.n ? (int)o->limit : list.n;
    const int H = (int)in.dims[1], W = (int)in.dims[2], C = (int)in.dims[3], B = (int)o->batch;
    const int64_t sample_n = (int64_t)H * W * C;
    const int k = classes < 5 ? (int)classes : 5;
    kiln_status st = kiln_context_create(engine, &ctx);
    input = malloc(sizeof(float) * (size_t)(sample_n * B));
    output = malloc(sizeof(float) * (size_t)(classes * B));
    if (st != KILN_OK || !input || !output) {
        rc = st != KILN_OK ? cli_fail_library(st) : cli_fail("out of memory");
        goto done;
    }
    if ((st = kiln_context_bind_input(ctx, 0, input)) != KILN_OK || (st = kiln_context_bind_output(ctx, 0, output)) != KILN_OK) {
        rc = cli_fail_library(st);
        goto done;
    }
    cli_progress bar;
    cli_progress_start(&bar, (size_t)n, "images", !o->quiet && !o->json);
    int top1 = 0, top5 = 0, failed = 0, done_n = 0;
    int *labels_of = malloc(sizeof(int) * (size_t)B);
    if (!labels_of) {
        rc = cli_fail("out of memory");
        goto done;
    }
    double t0 = cli_now_s(), infer_s = 0;
    for (int next = 0; next < n;) {
        int m = 0;
        while (m < B && next < n) {
            const sample *s = &list.s[next++];
            kiln_image img;
            st = kiln_image_load(s->path, &img);
            if (st == KILN_OK)
                st = kiln_image_to_tensor(&img, H, W, C, o->resize, o->preprocess, input + (size_t)(m * sample_n));
            kiln_image_free(&img);
            if (st != KILN_OK) {
                cli_progress_end(&bar);
                cli_fail_library(st);
                failed++;
                continue;
            }
            labels_of[m++] = s->label;
        }
        if (m == 0) continue;
        for (int b = m; b < B; b++) memcpy(input + (size_t)(b * sample_n), input, sizeof(float) * (size_t)sample_n);
        double r0 = cli_now_s();
        if ((st = kiln_context_run(ctx, B)) != KILN_OK) {
            free(labels_of);
            rc = cli_fail_library(st);
            goto done;
        }
        infer_s += cli_now_s() - r0;
        for (int b = 0; b < m; b++) {
            int64_t best[5] = {-1, -1, -1, -1, -1};
            cli_top_k(output + (size_t)(b * classes), classes, k, best);
            top1 += best[0] == labels_of[b];
            for (int j = 0; j < k; j++) top5 += best[j] == labels_of[b];
        }
        done_n += m;
        cli_progress_update(&bar, (size_t)(done_n + failed));
    }
    cli_progress_end(&bar);
    free(labels_of);
    double secs = cli_now_s() - t0;
    double ips = secs > 0 ? done_n / secs : 0, iips = infer_s > 0 ? done_n * (B > 0 ? 1.0 : 0) / infer_s : 0;
    double p1 = done_n ? 100.0 * top1 / done_n : 0, p5 = done_n ? 100.0 * top5 / done_n : 0;
    if (o->json) {
        printf("{\"schema\": \"kiln-eval\", \"version\": 1, \"images\": %d, \"failed\": %d, \"classes\": %lld, \"k\": %d, "
               "\"top1Correct\": %d, \"top5Correct\": %d, \"top1\": %.6f, \"top5\": %.6f, \"seconds\": %.6f, "
               "\"imagesPerSecond\": %.6g, \"inferenceImagesPerSecond\": %.6g, \"batch\": %d, \"classesBy\": \"%s\"}\n",
               done_n, failed, (long long)classes, k, top1, top5, p1 / 100, p5 / 100, secs, ips, iips, B,
               o->csv ? "csv" : by_order ? "folder-order" : "folder-name");
    } else {
        if (!o->quiet)
            printf("kiln eval: %s on %s: %d images (%d failed), %lld classes, batch %d\n", o->model, o->dir, done_n,
                   failed, (long long)classes, B);
        printf("top-1 %.2f%% (%d/%d)  top-%d %.2f%% (%d/%d)  %.1f images/s (inference alone %.1f images/s), %.2f s\n", p1,
               top1, done_n, k, p5, top5, done_n, ips, iips, secs);
    }
    if (failed) rc = CLI_FAIL;
done:
    for (int i = 0; i < list.n; i++) free(list.s[i].path);
    free(list.s);
    free(input);
    free(output);
    kiln_context_free(ctx);
    kiln_engine_free(engine);
    cli_labels_free(&labels);
    return rc;
}

static int run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "eval", argc, argv);
    eval_options o = {0};
    o.preprocess = KILN_PREPROCESS_TF;
    o.resize = KILN_RESIZE_SQUASH;
    o.batch = 1;
    o.threads = 1;
    long v;
    while (cli_args_next(&a)) {
        if (cli_positional(&a)) {
            if (!o.model) o.model = a.arg;
            else if (!o.dir) o.dir = a.arg;
            else return cli_usage("eval", "one MODEL_OR_ENGINE and one DIR only (extra '%s')", a.arg);
        } else if (cli_option(&a, "--labels-csv", NULL)) {
            o.csv = a.value;
        } else if (cli_option(&a, "--labels", NULL)) {
            o.labels = a.value;
        } else if (cli_option(&a, "--preprocess", NULL)) {
            if (!a.error && kiln_preprocess_mode_parse(a.value, &o.preprocess) != 0)
                return cli_usage("eval", "--preprocess is one of tf, caffe, torch, raw; not '%s'", a.value);
        } else if (cli_option(&a, "--resize", NULL)) {
            if (!a.error && kiln_resize_mode_parse(a.value, &o.resize) != 0)
                return cli_usage("eval", "--resize is squash or crop; not '%s'", a.value);
        } else if (cli_option(&a, "--batch", "-b")) {
            if (!a.error && cli_parse_int(a.value, 1, 4096, &v) != 0)
                return cli_usage("eval", "--batch wants a number from 1 to 4096, not '%s'", a.value);
            o.batch = v;
        } else if (cli_option(&a, "--threads", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 4096, &v) != 0)
                return cli_usage("eval", "--threads wants a number from 1 to 4096, not '%s'", a.value);
            o.threads = v;
        } else if (cli_option(&a, "--limit", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 0x7fffffffL, &v) != 0)
                return cli_usage("eval", "--limit wants a positive number, not '%s'", a.value);
            o.limit = v;
        } else if (cli_flag(&a, "--json", NULL)) {
            o.json = 1;
        } else if (cli_flag(&a, "--quiet", "-q")) {
            o.quiet = 1;
        } else {
            return cli_unknown(&a);
        }
        if (a.error) return CLI_USAGE;
    }
    if (!o.model) return cli_usage("eval", "missing MODEL_OR_ENGINE and DIR");
    if (!o.dir) return cli_usage("eval", "missing DIR (a folder of labeled photos)");
    return eval(&o);
}

const cli_command cli_eval_command = {"eval", "top-1/top-5 accuracy over a folder of labeled photos", help, run};
