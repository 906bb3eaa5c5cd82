/* kiln inspect MODEL_OR_ENGINE [--json]: what an engine holds (kiln_engine_describe). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: kiln inspect MODEL_OR_ENGINE [--json] [--batch N|MIN:MAX] [--disable-pass LIST] [--no-fusion]\n"
    "                    [--dump-after PASS]\n"
    "\n"
    "Describe an engine: inputs and outputs (names, shapes, types, layout), every layer after optimization with the\n"
    "source layers it came from ('conv2d_3 + batch_normalization_3 + activation_3 || conv2d_6 + ...'), its op, output\n"
    "shape, fused activation, precision and kernel (tactic; 'view (no copy)' for slices/concats the memory planner\n"
    "laid out in place), then a summary: layers imported -> after, rewrites per optimizer pass, fusions, parameters,\n"
    "and the activation arena beside its lower bound (most bytes live at once) and the sum of all activations.\n"
    "A model file is built in memory first (default options) and described as 'kiln build' would build it.\n"
    "\n"
    "options:\n"
    "  --json              machine-readable JSON (shaped like trtexec --exportLayerInfo; schema in docs/INSPECT.md)\n"
    "  --disable-pass LIST, --no-fusion, --dump-after PASS\n"
    "                      optimizer switches when building a model in memory (as for 'kiln build')\n"
    "  --batch N|MIN:MAX   batch range when building a model in memory (default 1)\n"
    "  -h, --help          this text\n";

static int run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "inspect", argc, argv);
    const char *model = NULL;
    int json = 0;
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    while (cli_args_next(&a)) {
        if (cli_positional(&a)) {
            if (model) return cli_usage("inspect", "one MODEL_OR_ENGINE only (got '%s' and '%s')", model, a.arg);
            model = a.arg;
        } else if (cli_flag(&a, "--json", NULL)) {
            json = 1;
        } else if (cli_option(&a, "--disable-pass", NULL)) {
            if (!opt.disabled_passes || strcmp(opt.disabled_passes, "all")) opt.disabled_passes = a.value;
        } else if (cli_flag(&a, "--no-fusion", NULL)) {
            opt.disabled_passes = "all";
        } else if (cli_option(&a, "--dump-after", NULL)) {
            opt.dump_after = a.value;
        } else if (cli_option(&a, "--batch", NULL)) {
            if (!a.error && cli_parse_batch(a.value, &opt.batch_min, &opt.batch_max) != 0)
                return cli_usage("inspect", "--batch wants N or MIN:MAX with 1 <= MIN <= MAX <= 65536, not '%s'",
                                 a.value);
        } else {
            return cli_unknown(&a);
        }
        if (a.error) return CLI_USAGE;
    }
    if (!model) return cli_usage("inspect", "missing MODEL_OR_ENGINE");
    kiln_engine *engine = NULL;
    cli_fixed_shape_ok = 1; /* describing needs no batch axis */
    int rc = cli_open_engine(model, &opt, &engine);
    if (rc != CLI_OK) return rc;
    kiln_status st = kiln_engine_describe(engine, stdout, json);
    if (st != KILN_OK) rc = cli_fail_library(st);
    kiln_engine_free(engine);
    return rc;
}

const cli_command cli_inspect_command = {"inspect", "describe an engine: bindings, layers, parameters, memory", help,
                                         run};
