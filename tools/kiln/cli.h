/* Shared pieces of the kiln command-line tool: argument parsing, error reporting, opening a model or an engine,
 * and ImageNet labels. The commands use only the public API (kiln.h), src/image and src/util/npy.h.
 *
 * Exit codes: CLI_OK 0 success; CLI_FAIL 1 runtime or input failure (one line "kiln: <reason>" on stderr, then any
 * further lines of kiln_last_error()); CLI_USAGE 2 command-line mistakes. */
#ifndef KILN_TOOLS_CLI_H
#define KILN_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* One command: name, one-line summary for `kiln help`, full help text, entry point (argv[0] is the command name). */
typedef struct {
    const char *name;
    const char *summary;
    const char *help;
    int (*run)(int argc, char **argv);
} cli_command;

extern const cli_command cli_build_command, cli_predict_command, cli_run_command, cli_inspect_command;
extern const cli_command cli_bench_command, cli_compare_command, cli_eval_command; /* bench/compare/eval */

/* ---- errors --------------------------------------------------------------------------------------------------- */

/* "kiln: <formatted>" on stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report the library's last error: its first line as "kiln: <line>", further lines indented. Returns CLI_FAIL. */
int cli_fail_library(kiln_status st);
/* "kiln CMD: <formatted>" and a pointer to `kiln CMD --help` on stderr; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- arguments ------------------------------------------------------------------------------------------------ */

/* Walks argv: options may come before, between or after positional arguments; "--" ends options.
 * Options take their value as "--opt VALUE" or "--opt=VALUE". */
typedef struct {
    int argc;
    char **argv;
    int i;            /* next argument to look at */
    int only_positional;
    const char *cmd;  /* for messages */
    const char *arg;  /* the current argument */
    const char *value;
    int error;        /* set (and reported) when an option lacks its value */
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv);
/* Advance; returns 0 at the end. Afterwards a->arg is the argument; cli_positional() tells if it is one. */
int cli_args_next(cli_args *a);
int cli_positional(const cli_args *a);
/* Does the current argument name the flag `name` (or `alias`, may be NULL)? Flags take no value. */
int cli_flag(const cli_args *a, const char *name, const char *alias);
/* Does the current argument name option `name` (or `alias`)? Then a->value is its value (may consume the next
 * argument); a missing value sets a->error after reporting it. */
int cli_option(cli_args *a, const char *name, const char *alias);
/* Report the current argument as an unknown option; returns CLI_USAGE. */
int cli_unknown(const cli_args *a);

/* Strict decimal integer in [lo, hi]; returns 0 on success. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
/* "N" or "MIN:MAX" batch range; returns 0 on success. */
int cli_parse_batch(const char *s, int *bmin, int *bmax);

/* ---- models and engines --------------------------------------------------------------------------------------- */

/* Is `path` an engine file (starts with the engine magic)? 1 yes, 0 no (any other content), -1 unreadable
 * (reported as "kiln: PATH: cannot open: reason"). */
int cli_is_engine_file(const char *path);
/* Load an engine file, or import a model file and build it in memory with *opt (format from the content).
 * On success *out is owned by the caller; on failure the error is reported and CLI_FAIL returned. */
int cli_open_engine(const char *path, const kiln_build_options *opt, kiln_engine **out);
/* Fixed-shape engines (kiln_engine_is_fixed_shape: the model's own shapes, no batch axis). Commands that treat dims[0]
 * as the batch refuse one whose inputs/outputs do not start with 1 (cli_open_engine reports it). `kiln run` sets this
 * to 1: it takes such engines as they are, and builds a fixed-shape model for batch 1 whatever opt says. */
extern int cli_fixed_shape_ok;

/* "[N,224,224,3]" (batch axis as N) or "[2,224,224,3]" when batch >= 0 is given. */
const char *cli_shape(char *buf, size_t cap, int rank, const int64_t *dims, int64_t batch);
/* Product of dims[1..rank). */
int64_t cli_sample_numel(int rank, const int64_t *dims);
/* Indices of the k largest of the n scores s[] into best[k], highest first (ties: lower index first); slots beyond n
 * stay -1. */
void cli_top_k(const float *s, int64_t n, int k, int64_t *best);

/* ---- labels --------------------------------------------------------------------------------------------------- */

typedef struct {
    char *text;       /* owned file contents */
    char **line;      /* owned; n pointers into text */
    int n;
    char path[4096];  /* where they came from; "" when none was found */
} cli_labels;

/* Find labels: `explicit_path` (--labels), else $KILN_LABELS, else <dir of the kiln executable>/share/kiln/
 * synset_words.txt. A label file that was asked for (--labels, $KILN_LABELS) but cannot be read is an error
 * (reported, CLI_FAIL); a missing default file is not (out->n == 0). */
int cli_labels_load(const char *explicit_path, cli_labels *out);
void cli_labels_free(cli_labels *l);
/* Text for class `index` of a model with `classes` outputs, or NULL when there is no matching label (print the
 * index then). A 1001-class model with 1000 labels has "background" at index 0 and label i-1 at index i. */
const char *cli_label(const cli_labels *l, int64_t classes, int64_t index);

#endif
