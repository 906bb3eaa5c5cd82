/* Seeded random tensors and the outputs file (see tensor_io.h and docs/BENCH.md). */
#include "tensor_io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util/npy.h"

int64_t cli_tensor_numel(const cli_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->dims[d];
    return n;
}

void cli_tensor_list_free(cli_tensor_list *l)
{
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        free(l->t[i].name);
        free(l->t[i].data);
    }
    free(l->t);
    l->t = NULL;
    l->n = 0;
}

void cli_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = (double)(z >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) with 53 bits */
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void write_list(FILE *f, const cli_tensor_list *l, const char *indent)
{
    fprintf(f, "[");
    for (int i = 0; i < l->n; i++) {
        const cli_tensor *t = &l->t[i];
        fprintf(f, "%s\n%s  {\"name\": ", i ? "," : "", indent);
        cJSON *s = cJSON_CreateString(t->name);
        char *txt = cJSON_PrintUnformatted(s);
        fputs(txt ? txt : "\"\"", f);
        cJSON_free(txt);
        cJSON_Delete(s);
        fprintf(f, ", \"dimensions\": \"");
        for (int d = 0; d < t->rank; d++) fprintf(f, "%s%lld", d ? "x" : "", (long long)t->dims[d]);
        fprintf(f, "\", \"values\": [");
        int64_t n = cli_tensor_numel(t);
        for (int64_t j = 0; j < n; j++) fprintf(f, "%s%.9g", j ? ", " : "", (double)t->data[j]);
        fprintf(f, "]}");
    }
    fprintf(f, "\n%s]", indent);
}

int cli_outputs_save(const char *path, const cli_tensor_list *iters, int n_iters)
{
    if (ends_with(path, ".npy")) {
        if (n_iters != 1 || iters[0].n != 1)
            return cli_fail("%s: a .npy file holds one tensor, but there are %d iterations of %d outputs; write .json",
                            path, n_iters, n_iters ? iters[0].n : 0), -1;
        kiln_status st = kiln_npy_write(path, iters[0].t[0].data, iters[0].t[0].rank, iters[0].t[0].dims);
        return st == KILN_OK ? 0 : (cli_fail_library(st), -1);
    }
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("%s: cannot write: %s", path, strerror(errno)), -1;
    if (n_iters == 1) {
        write_list(f, &iters[0], "");
    } else {
        fprintf(f, "[");
        for (int k = 0; k < n_iters; k++) {
            fprintf(f, "%s\n  ", k ? "," : "");
            write_list(f, &iters[k], "  ");
        }
        fprintf(f, "\n]");
    }
    fprintf(f, "\n");
    if (fclose(f) != 0) return cli_fail("%s: write error", path), -1;
    return 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = '\0', *len = n;
    return buf;
}

/* One list from a trtexec-style array of {"name","dimensions","values"}; returns 0 or reports. */
static int parse_list(const char *path, const cJSON *arr, int iter, cli_tensor_list *out)
{
    int n = cJSON_GetArraySize(arr);
    out->t = calloc((size_t)(n > 0 ? n : 1), sizeof(cli_tensor));
    out->n = 0;
    if (!out->t) return cli_fail("out of memory"), -1;
    for (int i = 0; i < n; i++) {
        const cJSON *o = cJSON_GetArrayItem(arr, i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *dims = cJSON_GetObjectItemCaseSensitive(o, "dimensions");
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(o, "values");
        if (!cJSON_IsString(name) || !cJSON_IsString(dims) || !cJSON_IsArray(vals))
            return cli_fail("%s: iteration %d, entry %d: expected {\"name\": string, \"dimensions\": \"AxB\", "
                            "\"values\": [...]}", path, iter, i), -1;
        cli_tensor *t = &out->t[out->n++];
        t->name = strdup(name->valuestring);
        const char *p = dims->valuestring;
        while (*p) {
            char *end;
            long long d = strtoll(p, &end, 10);
            if (end == p || d < 0 || t->rank >= KILN_TENSOR_MAX_RANK || (*end && *end != 'x'))
                return cli_fail("%s: output '%s': bad dimensions \"%s\"", path, t->name, dims->valuestring), -1;
            t->dims[t->rank++] = d;
            p = *end ? end + 1 : end;
        }
        int64_t numel = cli_tensor_numel(t);
        if (numel != cJSON_GetArraySize(vals))
            return cli_fail("%s: output '%s': dimensions %s hold %lld values, the file lists %d", path, t->name,
                            dims->valuestring, (long long)numel, cJSON_GetArraySize(vals)), -1;
        t->data = malloc(sizeof(float) * (size_t)(numel > 0 ? numel : 1));
        if (!t->name || !t->data) return cli_fail("out of memory"), -1;
        int64_t j = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, vals)
        {
            if (!cJSON_IsNumber(v)) return cli_fail("%s: output '%s': value %lld is not a number", path, t->name, (long long)j), -1;
            t->data[j++] = (float)v->valuedouble;
        }
    }
    return 0;
}

int cli_is_outputs_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char head[8] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return 1;
    for (size_t i = 0; i < n; i++) {
        if (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t') continue;
        return head[i] == '[';
    }
    return 0;
}

int cli_outputs_load(const char *path, const char *npy_name, cli_tensor_list **iters, int *n_iters)
{
    *iters = NULL;
    *n_iters = 0;
    FILE *probe = fopen(path, "rb");
    if (!probe) return cli_fail("%s: cannot open: %s", path, strerror(errno)), -1;
    unsigned char head[6] = {0};
    size_t hn = fread(head, 1, sizeof head, probe);
    fclose(probe);
    if (hn == 6 && memcmp(head, "\x93NUMPY", 6) == 0) {
        cli_tensor_list *l = calloc(1, sizeof *l);
        cli_tensor *t = calloc(1, sizeof *t);
        if (!l || !t) return free(l), free(t), cli_fail("out of memory"), -1;
        int64_t dims[KILN_MAX_RANK];
        kiln_status st = kiln_npy_read(path, &t->data, &t->rank, dims);
        if (st != KILN_OK) return free(l), free(t), cli_fail_library(st), -1;
        for (int d = 0; d < t->rank && d < KILN_TENSOR_MAX_RANK; d++) t->dims[d] = dims[d];
        t->name = strdup(npy_name ? npy_name : "output");
        l->t = t;
        l->n = 1;
        *iters = l;
        *n_iters = 1;
        return 0;
    }
    size_t len = 0;
    char *text = read_all(path, &len);
    if (!text) return cli_fail("%s: cannot read: %s", path, strerror(errno)), -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return cli_fail("%s: not an outputs file (expected a JSON array as written by 'kiln compare --save-outputs' "
                        "or trtexec --exportOutput, or a .npy)", path), -1;
    }
    int multi = cJSON_IsArray(cJSON_GetArrayItem(root, 0));
    int n = multi ? cJSON_GetArraySize(root) : 1;
    cli_tensor_list *l = calloc((size_t)(n > 0 ? n : 1), sizeof *l);
    int rc = l ? 0 : (cli_fail("out of memory"), -1);
    for (int k = 0; k < n && rc == 0; k++) rc = parse_list(path, multi ? cJSON_GetArrayItem(root, k) : root, k, &l[k]);
    cJSON_Delete(root);
    if (rc != 0) {
        for (int k = 0; l && k < n; k++) cli_tensor_list_free(&l[k]);
        free(l);
        return -1;
    }
    *iters = l;
    *n_iters = n;
    return 0;
}
