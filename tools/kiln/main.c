/* kiln — the command-line tool: build engines, classify photos, run tensors, inspect engines.
 * Each command lives in its own file (cmd_*.c) with its help text; this file dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command *const commands[] = {&cli_build_command,   &cli_predict_command, &cli_run_command,
                                              &cli_inspect_command, &cli_bench_command,   &cli_compare_command,
                                              &cli_eval_command};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void general_help(FILE *f)
{
    fprintf(f,
            "kiln %d.%d.%d — inference optimizer and runtime for trained image classifiers (CPU; CUDA with libkiln_cuda)\n"
            "\n"
            "usage: kiln COMMAND [ARGS...]\n"
            "\n"
            "commands:\n",
            KILN_VERSION_MAJOR, KILN_VERSION_MINOR, KILN_VERSION_PATCH);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f,
            "  help      this text; 'kiln help COMMAND' = 'kiln COMMAND --help'\n"
            "  version   print the version\n"
            "\n"
            "MODEL is a Keras .h5/.keras or ONNX file (format detected from the content, not the extension); it is built\n"
            "in memory. ENGINE is a file written by 'kiln build' (loaded by mmap). Commands taking MODEL_OR_ENGINE accept\n"
            "either and tell them apart by content.\n"
            "\n"
            "exit status: 0 success; 1 failure (a one-line reason on stderr, 'kiln: ...', then details if the model\n"
            "has several problems); 2 command-line mistakes.\n"
            "\n"
            "examples:\n"
            "  kiln build googlenet_bn.h5 -o googlenet_bn.kiln\n"
            "  kiln predict googlenet_bn.kiln huskies.jpg\n"
            "  kiln run googlenet_bn.kiln --input x.npy --output probs.npy\n"
            "  kiln inspect googlenet_bn.kiln --json\n"
            "  kiln bench googlenet_bn.kiln --dumpProfile --report bench.html\n"
            "  kiln compare googlenet_bn.h5 googlenet_bn.kiln --per-layer\n"
            "  kiln eval googlenet_bn.kiln imagenet/val --preprocess tf\n");
}

static const cli_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        general_help(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        if (argc > 2) {
            const cli_command *c = find_command(argv[2]);
            if (!c) {
                fprintf(stderr, "kiln: no command '%s'; run 'kiln help' for the list\n", argv[2]);
                return CLI_USAGE;
            }
            fputs(c->help, stdout);
            return CLI_OK;
        }
        general_help(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("kiln %d.%d.%d\n", KILN_VERSION_MAJOR, KILN_VERSION_MINOR, KILN_VERSION_PATCH);
        return CLI_OK;
    }
    const cli_command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "kiln: unknown command '%s'; run 'kiln help' for the list\n", name);
        return CLI_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(c->help, stdout);
            return CLI_OK;
        }
    }
    return c->run(argc - 1, argv + 1);
}
