/* kiln build MODEL -o ENGINE: import, optimize, plan and save an engine file; print a one-paragraph summary. */
#define _GNU_SOURCE /* open_memstream */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util/npy.h"

static const char help[] =
    "usage: kiln build MODEL -o ENGINE [--batch N|MIN:MAX] [--threads N] [--device cpu|cuda] [--fp16]\n"
    "                  [--calib FILE.npy|DIR]... [--calib-range LO:HI] [--fp32-layers LIST] [--timing-cache FILE]\n"
    "                  [--fast-math] [--pass-batch N] [--stream auto|on|off] [--disable-pass LIST] [--no-fusion] [--dump-after PASS] [--verbose]\n"
    "\n"
    "Import MODEL (Keras .h5/.keras or ONNX; format detected from the content), optimize it for this machine's\n"
    "CPU (or its GPU with --device cuda), plan its memory and write the engine file ENGINE.\n"
    "Prints a summary: layers, parameters, activation arena, build time.\n"
    "\n"
    "options:\n"
    "  -o, --output ENGINE    engine file to write (required; replaced if it exists)\n"
    "  --batch N|MIN:MAX      batch sizes the engine accepts (default 1); any batch in MIN..MAX runs, memory is\n"
    "                         planned for MAX\n"
    "  --threads N            worker threads at run time (default 1)\n"
    "  --tactics timed|heuristic|reference\n"
    "                         how each CPU layer's kernel is chosen (default timed): timed = run the candidate\n"
    "                         kernels on this CPU and keep the fastest; heuristic = rules on shapes and the CPU's ISA\n"
    "                         (deterministic: the same model gives a byte-identical engine); reference = reference\n"
    "                         kernels only (slow; for checking)\n"
    "  --timing-cache FILE    timed tactics: reuse the timings stored in FILE and add the new ones (a rebuild of the\n"
    "                         same model on the same CPU, or with --device cuda the same GPU, then times nothing)\n"
    "  --fast-math            CPU: also consider kernels with a larger float32 error than the gemm's (none at\n"
    "                         present: Winograd F(4x4) was one until its error came down to the gemm's over whole\n"
    "                         networks; it now competes in every build. To leave it out of a build:\n"
    "                         KILN_TACTICS_EXCLUDE=conv_winograd_f4_avx512)\n"
    "  --pass-batch N         CPU, batch above 1: run the layers on N samples at a time (each layer's data stays\n"
    "                         in cache); default: timed builds try 1, 2, 4 and the whole batch and keep the fastest\n"
    "  --stream auto|on|off   CPU: compute an expansion 1x1 conv a few rows at a time inside the depthwise conv that\n"
    "                         reads it (MobileNet / EfficientNet blocks: its large output never goes to memory; same\n"
    "                         results). auto (default): where that output is large, kept if whole runs are faster\n"
    "  --device cpu|cuda      where the engine runs (default cpu). cuda: the NVIDIA GPU present now (its SM version\n"
    "                         is recorded; another GPU refuses the engine); needs build/libkiln_cuda.so ('make cuda')\n"
    "  --fp16                 FP16 storage and Tensor Core math with FP32 accumulation (--device cuda only). Layers\n"
    "                         whose values would overflow FP16 stay FP32: the graph runs in FP32 on this CPU over\n"
    "                         calibration samples and every layer reading or writing a value above 16384 (65504/4)\n"
    "                         is kept in FP32 ('kiln inspect' lists them)\n"
    "  --calib FILE.npy|DIR   FP16 calibration samples for the model's (first) input, preprocessed as the model\n"
    "                         expects: float arrays [N,H,W,C] or [H,W,C]; a folder means every .npy in it; repeatable.\n"
    "                         Without it: 4 random samples uniform in --calib-range (a model whose real inputs reach\n"
    "                         larger values than those may overflow where the random samples did not: give real ones)\n"
    "  --calib-range LO:HI    range of the random calibration samples (default -1:1, Keras 'tf' preprocessing;\n"
    "                         0:255 for models that take raw pixels)\n"
    "  --fp32-layers LIST     comma-separated layer names kept in FP32 in an FP16 engine whatever their range (a\n"
    "                         source layer's name, e.g. conv2d_3, or the fused name 'kiln inspect' shows)\n"
    "  --disable-pass LIST    comma-separated optimizer passes to skip (e.g. fold_batchnorm,fuse_activation);\n"
    "                         'kiln build --verbose' lists the passes it runs (docs/INSPECT.md describes each)\n"
    "  --no-fusion            run no optimizer pass at all (the graph as imported; same as --disable-pass all)\n"
    "  --dump-after PASS      print the graph after optimizer pass PASS (or 'all': after every pass) to stderr,\n"
    "                         with the layer table of 'kiln inspect'\n"
    "  --verbose              print the build steps to stderr\n"
    "  -h, --help             this text\n";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void human(double bytes, char *buf, size_t cap)
{
    if (bytes >= 1 << 20) snprintf(buf, cap, "%.2f MiB", bytes / (1 << 20));
    else if (bytes >= 1 << 10) snprintf(buf, cap, "%.1f KiB", bytes / (1 << 10));
    else snprintf(buf, cap, "%.0f B", bytes);
}

/* Layer count, parameters and memory from the engine's JSON description (kiln_engine_describe; schema in
 * docs/ENGINE_FORMAT.md). Missing fields are left out of the summary. */
static void print_summary(const kiln_engine *e, const char *path, const kiln_build_options *opt, double seconds)
{
    char *json = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    FILE *mem = open_memstream(&json, &len);
    if (mem) {
        kiln_status st = kiln_engine_describe(e, mem, 1);
        fclose(mem);
        if (st == KILN_OK) root = cJSON_ParseWithLength(json, len);
    }
    printf("built %s in %.2f s\n", path, seconds);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "Layers");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "ParameterCount");
    const cJSON *weights = cJSON_GetObjectItemCaseSensitive(root, "WeightsBytes");
    const cJSON *arena = cJSON_GetObjectItemCaseSensitive(root, "ArenaBytes");
    char b[32];
    if (cJSON_IsArray(layers)) printf("  layers      %d\n", cJSON_GetArraySize(layers));
    if (cJSON_IsNumber(params)) {
        printf("  parameters  %.0f", params->valuedouble);
        if (cJSON_IsNumber(weights)) human(weights->valuedouble, b, sizeof b), printf(" (weights %s)", b);
        printf("\n");
    }
    if (cJSON_IsNumber(arena))
        human(arena->valuedouble, b, sizeof b), printf("  arena       %s at batch %d\n", b, opt->batch_max);
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "Summary"), "PrecisionNote");
    if (!note) note = cJSON_GetObjectItemCaseSensitive(root, "PrecisionNote");
    if (cJSON_IsString(note)) printf("  precision   %s\n", note->valuestring);
    for (int k = 0; k < 2; k++) {
        int n = k ? kiln_engine_num_outputs(e) : kiln_engine_num_inputs(e);
        for (int i = 0; i < n; i++) {
            kiln_tensor_info ti;
            char sh[128];
            if ((k ? kiln_engine_output_info(e, i, &ti) : kiln_engine_input_info(e, i, &ti)) != KILN_OK) continue;
            printf("  %-11s %s %s\n", k ? "output" : "input", ti.name,
                   cli_shape(sh, sizeof sh, ti.rank, ti.dims, ti.fixed_shape && ti.rank ? ti.dims[0] : -1));
        }
    }
    printf("  batch       %d..%d, %d thread%s, %s%s\n", opt->batch_min, opt->batch_max, opt->threads,
           opt->threads == 1 ? "" : "s", opt->precision == KILN_PRECISION_FP16 ? "FP16" : "FP32",
           opt->device == KILN_DEVICE_CUDA ? ", CUDA" : "");
    cJSON_Delete(root);
    free(json);
}

/* --calib: the floats of FILE.npy, or of every .npy in a folder (name order), appended to *data. */
typedef struct {
    float *data;
    int64_t n;
} calib_buf;

static int calib_add_file(calib_buf *c, const char *path)
{
    float *x = NULL;
    int rank = 0;
    int64_t dims[KILN_MAX_RANK];
    if (kiln_npy_read(path, &x, &rank, dims) != KILN_OK) return cli_fail("--calib: %s", kiln_last_error());
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    float *grown = realloc(c->data, sizeof(float) * (size_t)(c->n + n));
    if (!grown) {
        free(x);
        return cli_fail("--calib %s: out of memory", path);
    }
    memcpy(grown + c->n, x, sizeof(float) * (size_t)n);
    c->data = grown;
    c->n += n;
    free(x);
    return CLI_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int calib_add(calib_buf *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return cli_fail("--calib %s: no such file or folder", path);
    if (!S_ISDIR(st.st_mode)) return calib_add_file(c, path);
    DIR *d = opendir(path);
    if (!d) return cli_fail("--calib %s: cannot read the folder", path);
    char **names = NULL;
    int n = 0, rc = CLI_OK;
    struct dirent *e;
    while ((e = readdir(d)) && rc == CLI_OK) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".npy")) continue;
        char **grown = realloc(names, sizeof(char *) * (size_t)(n + 1));
        if (!grown || !(grown[n] = malloc(strlen(path) + len + 2))) {
            names = grown ? grown : names;
            rc = cli_fail("--calib %s: out of memory", path);
            break;
        }
        names = grown;
        sprintf(names[n++], "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (rc == CLI_OK && n == 0) rc = cli_fail("--calib %s: the folder holds no .npy file", path);
    if (n) qsort(names, (size_t)n, sizeof(char *), cmp_str);
    for (int i = 0; i < n; i++) {
        if (rc == CLI_OK) rc = calib_add_file(c, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int build_engine(const char *model, const char *engine_path, const kiln_build_options *o);

/* The --calib samples of this run: freed by run() whatever parse_and_build returns. */
static calib_buf calib;

static int parse_and_build(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "build", argc, argv);
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    const char *model = NULL, *engine_path = NULL;
    long v;
    int rc = CLI_OK;
    while (cli_args_next(&a)) {
        if (cli_positional(&a)) {
            if (model) return cli_usage("build", "one MODEL only (got '%s' and '%s')", model, a.arg);
            model = a.arg;
        } else if (cli_option(&a, "--output", "-o")) {
            engine_path = a.value;
        } else if (cli_option(&a, "--batch", NULL)) {
            if (!a.error && cli_parse_batch(a.value, &opt.batch_min, &opt.batch_max) != 0)
                return cli_usage("build", "--batch wants N or MIN:MAX with 1 <= MIN <= MAX <= 65536, not '%s'", a.value);
        } else if (cli_option(&a, "--threads", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 4096, &v) != 0)
                return cli_usage("build", "--threads wants a number from 1 to 4096, not '%s'", a.value);
            opt.threads = (int)v;
        } else if (cli_option(&a, "--tactics", NULL)) {
            if (!a.error && !strcmp(a.value, "timed")) opt.tactics = KILN_TACTICS_TIMED;
            else if (!a.error && !strcmp(a.value, "heuristic")) opt.tactics = KILN_TACTICS_HEURISTIC;
            else if (!a.error && !strcmp(a.value, "reference")) opt.tactics = KILN_TACTICS_REFERENCE;
            else if (!a.error) return cli_usage("build", "--tactics wants timed, heuristic or reference, not '%s'", a.value);
        } else if (cli_option(&a, "--timing-cache", NULL)) {
            opt.timing_cache = a.value;
        } else if (cli_flag(&a, "--fast-math", NULL)) {
            opt.fast_math = 1;
        } else if (cli_option(&a, "--pass-batch", NULL)) {
            char *end = NULL;
            const long v = a.error ? 0 : strtol(a.value, &end, 10);
            if (!a.error && (end == a.value || *end || v < 1 || v > 4096))
                return cli_usage("build", "--pass-batch wants a number of samples from 1 to 4096, not '%s'", a.value);
            opt.pass_batch = (int)v;
        } else if (cli_option(&a, "--stream", NULL)) {
            if (!a.error && !strcmp(a.value, "auto")) opt.stream = 0;
            else if (!a.error && !strcmp(a.value, "on")) opt.stream = 1;
            else if (!a.error && !strcmp(a.value, "off")) opt.stream = -1;
            else if (!a.error) return cli_usage("build", "--stream wants auto, on or off, not '%s'", a.value);
        } else if (cli_option(&a, "--device", NULL)) {
            if (!a.error && strcmp(a.value, "cpu") && strcmp(a.value, "cuda"))
                return cli_usage("build", "--device wants cpu or cuda, not '%s'", a.value);
            if (!a.error) opt.device = strcmp(a.value, "cuda") ? KILN_DEVICE_CPU : KILN_DEVICE_CUDA;
        } else if (cli_flag(&a, "--fp16", NULL)) {
            opt.precision = KILN_PRECISION_FP16;
        } else if (cli_option(&a, "--calib", NULL)) {
            if (!a.error && (rc = calib_add(&calib, a.value)) != CLI_OK) break;
        } else if (cli_option(&a, "--calib-range", NULL)) {
            char *end = NULL;
            if (!a.error) {
                opt.calib_lo = strtof(a.value, &end);
                if (end == a.value || *end != ':' || (opt.calib_hi = strtof(end + 1, &end), *end) ||
                    !(opt.calib_lo < opt.calib_hi)) {
                    rc = cli_usage("build", "--calib-range wants LO:HI with LO < HI (e.g. -1:1 or 0:255), not '%s'",
                                   a.value);
                    break;
                }
            }
        } else if (cli_option(&a, "--fp32-layers", NULL)) {
            opt.fp32_layers = a.value;
        } else if (cli_option(&a, "--disable-pass", NULL)) {
            if (!opt.disabled_passes || strcmp(opt.disabled_passes, "all")) opt.disabled_passes = a.value;
        } else if (cli_flag(&a, "--no-fusion", NULL)) {
            opt.disabled_passes = "all";
        } else if (cli_option(&a, "--dump-after", NULL)) {
            opt.dump_after = a.value;
        } else if (cli_flag(&a, "--verbose", "-v")) {
            opt.verbose = 1;
        } else {
            return cli_unknown(&a);
        }
        if (a.error) {
            rc = CLI_USAGE;
            break;
        }
    }
    if (rc != CLI_OK) return rc;
    opt.calib_data = calib.data;
    opt.calib_numel = calib.n;
    return build_engine(model, engine_path, &opt);
}

static int run(int argc, char **argv)
{
    int rc = parse_and_build(argc, argv);
    free(calib.data);
    calib.data = NULL;
    calib.n = 0;
    return rc;
}

static int build_engine(const char *model, const char *engine_path, const kiln_build_options *o)
{
    kiln_build_options opt = *o;
    if (!model) return cli_usage("build", "missing MODEL");
    if (!engine_path || !*engine_path) return cli_usage("build", "missing -o ENGINE (the engine file to write)");
    if ((opt.calib_data || opt.fp32_layers) && opt.precision != KILN_PRECISION_FP16)
        return cli_usage("build", "--calib and --fp32-layers choose the FP32 layers of an FP16 engine: add --fp16 "
                                  "--device cuda");

    int is_engine = cli_is_engine_file(model);
    if (is_engine < 0) return CLI_FAIL;
    if (is_engine) return cli_fail("%s is already an engine file; 'kiln build' takes a model (.h5, .keras, .onnx)", model);
    double t0 = now_s();
    kiln_network *net = NULL;
    kiln_engine *engine = NULL;
    kiln_status st = kiln_network_import(model, &net);
    if (st == KILN_OK && kiln_network_fixed_shape(net) && opt.batch_min == 1 && opt.batch_max == 1)
        printf("fixed-shape engine: %s; batch fixed to the model's shapes\n", kiln_network_fixed_shape(net));
    if (st == KILN_OK) st = kiln_engine_build(net, &opt, &engine);
    kiln_network_free(net);
    if (st == KILN_OK) st = kiln_engine_save(engine, engine_path);
    double seconds = now_s() - t0;
    if (st != KILN_OK) {
        kiln_engine_free(engine);
        return cli_fail_library(st);
    }
    print_summary(engine, engine_path, o, seconds);
    kiln_engine_free(engine);
    return CLI_OK;
}

const cli_command cli_build_command = {"build", "optimize a model (.h5, .keras, .onnx) into an engine file", help, run};
