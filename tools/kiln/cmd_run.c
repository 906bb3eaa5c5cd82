/* kiln run MODEL_OR_ENGINE --input X.npy --output Y.npy: run raw tensors through an engine.
 * The batch is the inputs' first dimension; every shape is checked before anything runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util/npy.h"

static const char help[] =
    "usage: kiln run MODEL_OR_ENGINE --input [NAME=]FILE.npy ... [--output [NAME=]FILE.npy ...] [--threads N]\n"
    "\n"
    "Run NumPy tensors through the model and write its outputs as .npy float32 files.\n"
    "\n"
    "options:\n"
    "  --input [NAME=]FILE.npy    one per model input: NAME= picks the input by name, the others are taken in\n"
    "                             order. Float32 (or f64/int, converted), the input's shape with the batch first,\n"
    "                             e.g. (1, 224, 224, 3) for a 224x224 RGB model. The batch must be within the\n"
    "                             engine's batch range ('kiln build --batch MIN:MAX'); all inputs share it.\n"
    "  --output [NAME=]FILE.npy   where to write an output (NAME= by name, the others in order). Outputs without\n"
    "                             a file are summarised on stdout (shape, min, max, argmax of the first sample).\n"
    "  --threads N                worker threads when building a model in memory (default 1)\n"
    "  --device cpu|cuda          where a model built in memory runs (engine files keep theirs)\n"
    "  --fp16                     FP16 engine (with --device cuda)\n"
    "  -h, --help                 this text\n"
    "\n"
    "A fixed-shape model (an ONNX model using its first axis as data; 'kiln build' says so) takes and writes\n"
    "tensors of the model's own shapes, every axis as in the ONNX file, and runs once.\n"
    "A model file is built in memory for exactly the inputs' batch. A NAME= prefix is recognised when the text\n"
    "before the first '=' contains no '/'; write ./FILE to pass a file name containing '='.\n";

/* --device / --fp16 for a model built in memory (set once by the option parser). */
static int run_device, run_fp16;

typedef struct {
    const char *name; /* NULL: positional */
    const char *file;
    int index;        /* engine input/output index once matched */
    float *data;      /* owned */
    int rank;
    int64_t dims[KILN_MAX_RANK];
} tensor_arg;

static void split_spec(const char *spec, tensor_arg *t, char *buf, size_t cap)
{
    const char *eq = strchr(spec, '=');
    t->name = NULL;
    t->file = spec;
    t->index = -1;
    if (eq && eq != spec && memchr(spec, '/', (size_t)(eq - spec)) == NULL && (size_t)(eq - spec) < cap) {
        memcpy(buf, spec, (size_t)(eq - spec));
        buf[eq - spec] = '\0';
        t->name = buf;
        t->file = eq + 1;
    }
}

/* Match named args by name and the rest in order; returns CLI_OK or reports. */
static int match(const kiln_engine *e, tensor_arg *t, int n, int is_output)
{
    const char *what = is_output ? "output" : "input";
    int count = is_output ? kiln_engine_num_outputs(e) : kiln_engine_num_inputs(e);
    char *taken = calloc((size_t)(count > 0 ? count : 1), 1);
    if (!taken) return cli_fail("out of memory");
    int rc = CLI_OK;
    char list[1024] = "";
    for (int i = 0; i < count; i++) {
        kiln_tensor_info ti;
        if ((is_output ? kiln_engine_output_info(e, i, &ti) : kiln_engine_input_info(e, i, &ti)) == KILN_OK)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", ti.name);
    }
    for (int j = 0; j < n && rc == CLI_OK; j++) {
        if (!t[j].name) continue;
        int idx = is_output ? kiln_engine_find_output(e, t[j].name) : kiln_engine_find_input(e, t[j].name);
        if (idx < 0) rc = cli_fail("the model has no %s named '%s' (its %ss: %s)", what, t[j].name, what, list);
        else if (taken[idx]) rc = cli_fail("%s '%s' is given twice", what, t[j].name);
        else t[j].index = idx, taken[idx] = 1;
    }
    int next = 0;
    for (int j = 0; j < n && rc == CLI_OK; j++) {
        if (t[j].name) continue;
        while (next < count && taken[next]) next++;
        if (next >= count) {
            rc = cli_usage("run", "%d --%s given but the model has %d %s%s (%s)", n, what, count, what,
                           count == 1 ? "" : "s", list);
            break;
        }
        t[j].index = next;
        taken[next] = 1;
    }
    if (rc == CLI_OK && !is_output)
        for (int i = 0; i < count; i++)
            if (!taken[i]) {
                kiln_tensor_info ti;
                kiln_engine_input_info(e, i, &ti);
                rc = cli_usage("run", "no --input for the model's input '%s' (its inputs: %s)", ti.name, list);
                break;
            }
    free(taken);
    return rc;
}

static int check_input(const kiln_engine *e, const tensor_arg *t, int batch)
{
    kiln_tensor_info ti;
    char want[160], got[160];
    kiln_engine_input_info(e, t->index, &ti);
    if (ti.fixed_shape) { /* the model's own shape, every axis */
        int same = t->rank == ti.rank;
        for (int d = 0; same && d < ti.rank; d++) same = t->dims[d] == ti.dims[d];
        if (!same)
            return cli_fail("wrong shape for input '%s' (%s): got %s, the fixed-shape model expects %s", ti.name,
                            t->file, cli_shape(got, sizeof got, t->rank, t->dims, t->rank > 0 ? t->dims[0] : 0),
                            cli_shape(want, sizeof want, ti.rank, ti.dims, ti.rank > 0 ? ti.dims[0] : 0));
        return CLI_OK;
    }
    int same = t->rank == ti.rank;
    for (int d = 1; same && d < ti.rank; d++) same = t->dims[d] == ti.dims[d];
    cli_shape(got, sizeof got, t->rank, t->dims, t->rank > 0 ? t->dims[0] : 0);
    cli_shape(want, sizeof want, ti.rank, ti.dims, -1);
    if (!same)
        return cli_fail("wrong shape for input '%s' (%s): got %s, the model expects %s with N in %d..%d%s", ti.name,
                        t->file, got, want, ti.batch_min, ti.batch_max,
                        t->rank == ti.rank - 1 ? " (add the batch dimension)" : "");
    if (t->dims[0] != batch)
        return cli_fail("input '%s' (%s) has batch %lld but the first input has batch %d; all inputs share one batch",
                        ti.name, t->file, (long long)t->dims[0], batch);
    if (batch < ti.batch_min || batch > ti.batch_max)
        return cli_fail("input '%s' (%s) has batch %d but the engine accepts batch %d..%d (rebuild with "
                        "'kiln build --batch MIN:MAX')",
                        ti.name, t->file, batch, ti.batch_min, ti.batch_max);
    return CLI_OK;
}

/* whole: a fixed-shape engine's output (no batch axis): the statistics cover the whole tensor. */
static void summarise(const char *name, const float *y, int rank, const int64_t *dims, int batch, int whole)
{
    char sh[160];
    int64_t n = cli_sample_numel(rank, dims) * (whole && rank > 0 ? dims[0] : 1);
    printf("%s %s", name, cli_shape(sh, sizeof sh, rank, dims, batch));
    if (n > 0) {
        int64_t arg = 0;
        float lo = y[0], hi = y[0];
        for (int64_t i = 1; i < n; i++) {
            if (y[i] < lo) lo = y[i];
            if (y[i] > hi) hi = y[i], arg = i;
        }
        printf("  %s: min %g, max %g, argmax %lld", whole ? "whole tensor" : "sample 0", lo, hi, (long long)arg);
    }
    printf("\n");
}

static int run_tensors(const char *model, tensor_arg *in, int n_in, tensor_arg *out, int n_out, int threads)
{
    int rc = CLI_OK;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    float **outputs = NULL;
    int n_outputs = 0;
    for (int j = 0; j < n_in; j++) {
        kiln_status st = kiln_npy_read(in[j].file, &in[j].data, &in[j].rank, in[j].dims);
        if (st != KILN_OK) return cli_fail_library(st);
        if (in[j].rank < 1 || in[j].dims[0] < 1)
            return cli_fail("%s: a tensor with a batch dimension is needed (shape has rank %d)", in[j].file,
                            in[j].rank);
    }
    const int64_t batch = in[0].dims[0];
    if (batch > 65536) return cli_fail("%s: batch %lld is too large", in[0].file, (long long)batch);
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_min = opt.batch_max = (int)batch;
    opt.threads = threads;
    opt.device = run_device;
    if (run_fp16) opt.precision = KILN_PRECISION_FP16;
    cli_fixed_shape_ok = 1;
    if ((rc = cli_open_engine(model, &opt, &engine)) != CLI_OK) return rc;
    const int fixed = kiln_engine_is_fixed_shape(engine);
    const int64_t run_batch = fixed ? 1 : batch; /* a fixed-shape engine: inputs as they are, one run */
    if ((rc = match(engine, in, n_in, 0)) != CLI_OK || (rc = match(engine, out, n_out, 1)) != CLI_OK) goto done;
    for (int j = 0; j < n_in && rc == CLI_OK; j++) rc = check_input(engine, &in[j], (int)batch);
    if (rc != CLI_OK) goto done;

    kiln_status st = kiln_context_create(engine, &ctx);
    n_outputs = kiln_engine_num_outputs(engine);
    outputs = calloc((size_t)(n_outputs > 0 ? n_outputs : 1), sizeof(float *));
    if (st != KILN_OK || !outputs) {
        rc = st != KILN_OK ? cli_fail_library(st) : cli_fail("out of memory");
        goto done;
    }
    for (int j = 0; j < n_in && st == KILN_OK; j++) st = kiln_context_bind_input(ctx, in[j].index, in[j].data);
    for (int i = 0; i < n_outputs && st == KILN_OK; i++) {
        kiln_tensor_info ti;
        kiln_engine_output_info(engine, i, &ti);
        const int64_t numel = fixed ? ti.dims[0] * cli_sample_numel(ti.rank, ti.dims) : batch * cli_sample_numel(ti.rank, ti.dims);
        outputs[i] = malloc(sizeof(float) * (size_t)numel + 1);
        if (!outputs[i]) {
            rc = cli_fail("out of memory for output '%s'", ti.name);
            goto done;
        }
        st = kiln_context_bind_output(ctx, i, outputs[i]);
    }
    if (st == KILN_OK) st = kiln_context_run(ctx, (int)run_batch);
    if (st != KILN_OK) {
        rc = cli_fail_library(st);
        goto done;
    }
    for (int i = 0; i < n_outputs && rc == CLI_OK; i++) {
        kiln_tensor_info ti;
        kiln_engine_output_info(engine, i, &ti);
        if (!fixed) ti.dims[0] = batch;
        const char *file = NULL;
        for (int j = 0; j < n_out; j++)
            if (out[j].index == i) file = out[j].file;
        if (!file) {
            summarise(ti.name, outputs[i], ti.rank, ti.dims, (int)ti.dims[0], fixed);
            continue;
        }
        st = kiln_npy_write(file, outputs[i], ti.rank, ti.dims);
        if (st != KILN_OK) rc = cli_fail_library(st);
    }
done:
    for (int i = 0; outputs && i < n_outputs; i++) free(outputs[i]);
    free(outputs);
    kiln_context_free(ctx);
    kiln_engine_free(engine);
    return rc;
}

static int run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "run", argc, argv);
    tensor_arg *in = calloc((size_t)argc, sizeof *in), *out = calloc((size_t)argc, sizeof *out);
    char(*names)[256] = calloc((size_t)argc, sizeof *names);
    const char *model = NULL;
    int n_in = 0, n_out = 0, n_names = 0, threads = 1, rc = CLI_OK;
    long v;
    if (!in || !out || !names) rc = cli_fail("out of memory");
    while (rc == CLI_OK && cli_args_next(&a)) {
        if (cli_positional(&a)) {
            if (model) rc = cli_usage("run", "one MODEL_OR_ENGINE only (got '%s' and '%s')", model, a.arg);
            model = a.arg;
        } else if (cli_option(&a, "--input", "-i")) {
            if (!a.error) split_spec(a.value, &in[n_in++], names[n_names++], sizeof names[0]);
        } else if (cli_option(&a, "--output", "-o")) {
            if (!a.error) split_spec(a.value, &out[n_out++], names[n_names++], sizeof names[0]);
        } else if (cli_option(&a, "--threads", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 4096, &v) != 0)
                rc = cli_usage("run", "--threads wants a number from 1 to 4096, not '%s'", a.value);
            threads = (int)v;
        } else if (cli_option(&a, "--device", NULL)) {
            if (!a.error && strcmp(a.value, "cpu") && strcmp(a.value, "cuda"))
                rc = cli_usage("run", "--device wants cpu or cuda, not '%s'", a.value);
            else if (!a.error) run_device = strcmp(a.value, "cuda") ? KILN_DEVICE_CPU : KILN_DEVICE_CUDA;
        } else if (cli_flag(&a, "--fp16", NULL)) {
            run_fp16 = 1;
        } else {
            rc = cli_unknown(&a);
        }
        if (a.error) rc = CLI_USAGE;
    }
    if (rc == CLI_OK && !model) rc = cli_usage("run", "missing MODEL_OR_ENGINE");
    if (rc == CLI_OK && n_in == 0) rc = cli_usage("run", "missing --input FILE.npy");
    for (int j = 0; rc == CLI_OK && j < n_in + n_out; j++) {
        const tensor_arg *t = j < n_in ? &in[j] : &out[j - n_in];
        if (!*t->file) rc = cli_usage("run", "empty file name in --%s", j < n_in ? "input" : "output");
    }
    if (rc == CLI_OK) rc = run_tensors(model, in, n_in, out, n_out, threads);
    for (int j = 0; in && j < n_in; j++) free(in[j].data);
    free(in);
    free(out);
    free(names);
    return rc;
}

const cli_command cli_run_command = {"run", "run .npy tensors through a model or engine, write .npy outputs", help,
                                     run};
