/* kiln build MODEL -o ENGINE: import, optimize, plan and save an engine file; print a one-paragraph summary. */
#define _GNU_SOURCE /* open_memstream */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char help[] =
    "usage: kiln build MODEL -o ENGINE [--batch N|MIN:MAX] [--threads N] [--device cpu|cuda] [--fp16]\n"
    "                  [--disable-pass LIST] [--no-fusion] [--dump-after PASS] [--verbose]\n"
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
    "                         same model on the same CPU then times nothing)\n"
    "  --device cpu|cuda      where the engine runs (default cpu). cuda: the NVIDIA GPU present now (its SM version\n"
    "                         is recorded; another GPU refuses the engine); needs build/libkiln_cuda.so ('make cuda')\n"
    "  --fp16                 FP16 storage and Tensor Core math with FP32 accumulation (--device cuda only)\n"
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
    for (int k = 0; k < 2; k++) {
        int n = k ? kiln_engine_num_outputs(e) : kiln_engine_num_inputs(e);
        for (int i = 0; i < n; i++) {
            kiln_tensor_info ti;
            char sh[128];
            if ((k ? kiln_engine_output_info(e, i, &ti) : kiln_engine_input_info(e, i, &ti)) != KILN_OK) continue;
            printf("  %-11s %s %s\n", k ? "output" : "input", ti.name, cli_shape(sh, sizeof sh, ti.rank, ti.dims, -1));
        }
    }
    printf("  batch       %d..%d, %d thread%s, %s%s\n", opt->batch_min, opt->batch_max, opt->threads,
           opt->threads == 1 ? "" : "s", opt->precision == KILN_PRECISION_FP16 ? "FP16" : "FP32",
           opt->device == KILN_DEVICE_CUDA ? ", CUDA" : "");
    cJSON_Delete(root);
    free(json);
}

static int run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "build", argc, argv);
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    const char *model = NULL, *engine_path = NULL;
    long v;
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
        } else if (cli_option(&a, "--device", NULL)) {
            if (!a.error && strcmp(a.value, "cpu") && strcmp(a.value, "cuda"))
                return cli_usage("build", "--device wants cpu or cuda, not '%s'", a.value);
            if (!a.error) opt.device = strcmp(a.value, "cuda") ? KILN_DEVICE_CPU : KILN_DEVICE_CUDA;
        } else if (cli_flag(&a, "--fp16", NULL)) {
            opt.precision = KILN_PRECISION_FP16;
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
        if (a.error) return CLI_USAGE;
    }
    if (!model) return cli_usage("build", "missing MODEL");
    if (!engine_path || !*engine_path) return cli_usage("build", "missing -o ENGINE (the engine file to write)");

    int is_engine = cli_is_engine_file(model);
    if (is_engine < 0) return CLI_FAIL;
    if (is_engine) return cli_fail("%s is already an engine file; 'kiln build' takes a model (.h5, .keras, .onnx)", model);
    double t0 = now_s();
    kiln_network *net = NULL;
    kiln_engine *engine = NULL;
    kiln_status st = kiln_network_import(model, &net);
    if (st == KILN_OK) st = kiln_engine_build(net, &opt, &engine);
    kiln_network_free(net);
    if (st == KILN_OK) st = kiln_engine_save(engine, engine_path);
    double seconds = now_s() - t0;
    if (st != KILN_OK) {
        kiln_engine_free(engine);
        return cli_fail_library(st);
    }
    print_summary(engine, engine_path, &opt, seconds);
    kiln_engine_free(engine);
    return CLI_OK;
}

const cli_command cli_build_command = {"build", "optimize a model (.h5, .keras, .onnx) into an engine file", help, run};
