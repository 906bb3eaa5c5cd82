/* Error reporting, argument parsing and model/engine opening shared by every kiln command. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* First bytes of every engine file (docs/ENGINE_FORMAT.md). */
static const char engine_magic[8] = {'K', 'I', 'L', 'N', 'E', 'N', 'G', '\0'};

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kiln: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

int cli_fail_library(kiln_status st)
{
    const char *msg = kiln_last_error();
    if (!msg || !*msg) return cli_fail("%s", kiln_status_string(st));
    const char *nl = strchr(msg, '\n');
    fprintf(stderr, "kiln: %.*s\n", nl ? (int)(nl - msg) : (int)strlen(msg), msg);
    while (nl) {
        const char *line = nl + 1;
        nl = strchr(line, '\n');
        fprintf(stderr, "  %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
    }
    return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kiln %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'kiln %s --help' for usage.\n", cmd);
    va_end(ap);
    return CLI_USAGE;
}

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
    a->i = 1; /* argv[0] is the command */
}

int cli_args_next(cli_args *a)
{
    for (;;) {
        if (a->i >= a->argc) return 0;
        a->arg = a->argv[a->i++];
        a->value = NULL;
        if (!a->only_positional && strcmp(a->arg, "--") == 0) {
            a->only_positional = 1;
            continue;
        }
        return 1;
    }
}

int cli_positional(const cli_args *a)
{
    return a->only_positional || a->arg[0] != '-' || a->arg[1] == '\0'; /* "-" alone is a file name */
}

static int names(const char *arg, const char *name, size_t *len)
{
    *len = strlen(name);
    return strncmp(arg, name, *len) == 0 && (arg[*len] == '\0' || arg[*len] == '=');
}

int cli_flag(const cli_args *a, const char *name, const char *alias)
{
    if (cli_positional(a)) return 0;
    return strcmp(a->arg, name) == 0 || (alias && strcmp(a->arg, alias) == 0);
}

int cli_option(cli_args *a, const char *name, const char *alias)
{
    if (cli_positional(a)) return 0;
    size_t len;
    if (!names(a->arg, name, &len) && !(alias && names(a->arg, alias, &len))) return 0;
    if (a->arg[len] == '=') {
        a->value = a->arg + len + 1;
    } else if (a->i < a->argc) {
        a->value = a->argv[a->i++];
    } else {
        cli_usage(a->cmd, "option '%s' needs a value", a->arg);
        a->error = 1;
        a->value = "";
    }
    return 1;
}

int cli_unknown(const cli_args *a)
{
    return cli_usage(a->cmd, "unknown option '%s'", a->arg);
}

int cli_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_batch(const char *s, int *bmin, int *bmax)
{
    long lo, hi;
    const char *colon = strchr(s, ':');
    if (!colon) {
        if (cli_parse_int(s, 1, 65536, &lo)) return -1;
        *bmin = *bmax = (int)lo;
        return 0;
    }
    char first[32];
    size_t n = (size_t)(colon - s);
    if (n == 0 || n >= sizeof first) return -1;
    memcpy(first, s, n);
    first[n] = '\0';
    if (cli_parse_int(first, 1, 65536, &lo) || cli_parse_int(colon + 1, 1, 65536, &hi) || lo > hi) return -1;
    *bmin = (int)lo;
    *bmax = (int)hi;
    return 0;
}

int cli_is_engine_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char head[sizeof engine_magic];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == sizeof head && memcmp(head, engine_magic, sizeof head) == 0;
}

int cli_fixed_shape_ok;

/* 1 when every input and output of a fixed-shape engine starts with a size-1 axis (then "dims[0] is the batch, 1"
 * reads its shapes right). */
static int fixed_leading_ones(const kiln_engine *e)
{
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? kiln_engine_num_outputs(e) : kiln_engine_num_inputs(e)); i++) {
            kiln_tensor_info ti;
            if ((k ? kiln_engine_output_info(e, i, &ti) : kiln_engine_input_info(e, i, &ti)) != KILN_OK ||
                ti.rank < 1 || ti.dims[0] != 1)
                return 0;
        }
    return 1;
}

int cli_open_engine(const char *path, const kiln_build_options *opt, kiln_engine **out)
{
    *out = NULL;
    int is_engine = cli_is_engine_file(path);
    if (is_engine < 0) return CLI_FAIL;
    kiln_status st;
    if (is_engine) {
        st = kiln_engine_load(path, out);
    } else {
        kiln_network *net = NULL;
        st = kiln_network_import(path, &net);
        kiln_build_options one;
        if (st == KILN_OK && cli_fixed_shape_ok && kiln_network_fixed_shape(net)) { /* its own shapes: batch 1 */
            one = *opt;
            one.batch_min = one.batch_max = 1;
            opt = &one;
        }
        if (st == KILN_OK) st = kiln_engine_build(net, opt, out);
        kiln_network_free(net);
    }
    if (st != KILN_OK) {
        kiln_engine_free(*out);
        *out = NULL;
        return cli_fail_library(st);
    }
    if (!cli_fixed_shape_ok && kiln_engine_is_fixed_shape(*out) && !fixed_leading_ones(*out)) {
        kiln_engine_free(*out);
        *out = NULL;
        return cli_fail("%s: a fixed-shape model (its first axis is data, not a batch) whose inputs or outputs do "
                        "not start with 1: run it with 'kiln run' (.npy tensors of the model's own shapes)", path);
    }
    return CLI_OK;
}

const char *cli_shape(char *buf, size_t cap, int rank, const int64_t *dims, int64_t batch)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < rank && len + 1 < cap; d++) {
        int n;
        if (d == 0 && batch < 0) n = snprintf(buf + len, cap - len, "[N");
        else n = snprintf(buf + len, cap - len, "%s%lld", d ? "," : "[", (long long)(d == 0 ? batch : dims[d]));
        if (n < 0) break;
        len += (size_t)n;
    }
    if (rank == 0) snprintf(buf, cap, "[]");
    else if (len + 1 < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

int64_t cli_sample_numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int d = 1; d < rank; d++) n *= dims[d];
    return n;
}

void cli_top_k(const float *s, int64_t n, int k, int64_t *best)
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
