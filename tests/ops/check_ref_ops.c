/* Checks every reference kernel against the NumPy cases written by gen_cases.py.
 *
 * Usage: check_ref_ops CASE_DIR
 *
 * For each CASE_DIR/<case>.json: builds a one-node kiln_graph (graph inputs for activations with dims[0] = 1 as the
 * batch placeholder, constants with their literal shapes), runs kiln_ref_kernel(op) for the case's batch, and compares
 * with the expected .npy: an element passes when |got - want| <= 1e-5 + 1e-5 * |want| (absolute + relative).
 * The output buffer carries guard floats past its end that must stay untouched.
 * Prints "<Op>: N passed, M failed" per op and a total; exits 1 on any failure, on an op of ops.def or an activation
 * kind without a case, or on a malformed case. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/act.h"
#include "core/graph.h"
#include "core/ops.h"
#include "core/status.h"
#include "cpu/kernel.h"
#include "util/npy.h"

#define TOL_ABS 1e-5
#define TOL_REL 1e-5
#define GUARD 16
#define GUARD_VALUE 1234.5f

static int passed[KILN_OP_COUNT], failed[KILN_OP_COUNT];
static int act_seen[KILN_ACT_COUNT];

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static int op_from_name(const char *name)
{
    for (int i = 0; i < KILN_OP_COUNT; i++)
        if (!strcmp(kiln_op_name((kiln_op)i), name)) return i;
    return -1;
}

static int act_from_name(const char *name)
{
    for (int i = 0; i < KILN_ACT_COUNT; i++)
        if (!strcmp(kiln_act_name(i), name)) return i;
    return -1;
}

/* A JSON number, or the strings "inf" / "-inf". */
static int json_float(const cJSON *j, float *out)
{
    if (cJSON_IsNumber(j)) {
        *out = (float)j->valuedouble;
        return 0;
    }
    if (cJSON_IsString(j) && !strcmp(j->valuestring, "inf")) {
        *out = INFINITY;
        return 0;
    }
    if (cJSON_IsString(j) && !strcmp(j->valuestring, "-inf")) {
        *out = -INFINITY;
        return 0;
    }
    return -1;
}

/* Integer array of at most cap entries; returns its length or -1. */
static int json_ints(const cJSON *j, int64_t *out, int cap)
{
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) > cap) return -1;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        if (!cJSON_IsNumber(e)) return -1;
        out[n++] = (int64_t)e->valuedouble;
    }
    return n;
}

#define COPY_INTS(field, n_expected)                                                                                   \
    do {                                                                                                               \
        int64_t v_[KILN_MAX_RANK];                                                                                     \
        int n_ = json_ints(item, v_, KILN_MAX_RANK);                                                                   \
        if (n_ < 0 || ((n_expected) >= 0 && n_ != (n_expected))) return -1;                                           \
        for (int i_ = 0; i_ < n_; i_++) at->field[i_] = (int32_t)v_[i_];                                               \
        rank_seen = n_;                                                                                                \
    } while (0)

/* {"kind": name, "alpha", "beta", "gamma"} into a kiln_act; 0 on success. */
static int parse_act(const cJSON *item, kiln_act *act)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
    act->kind = cJSON_IsString(kind) ? act_from_name(kind->valuestring) : -1;
    if (act->kind < 0 || json_float(cJSON_GetObjectItemCaseSensitive(item, "alpha"), &act->alpha) ||
        json_float(cJSON_GetObjectItemCaseSensitive(item, "beta"), &act->beta) ||
        json_float(cJSON_GetObjectItemCaseSensitive(item, "gamma"), &act->gamma))
        return -1;
    return 0;
}

/* Fill attrs from the case's "attrs" object over kiln_attrs_init defaults. Unknown keys are errors (typos). */
static int parse_attrs(const cJSON *j, kiln_attrs *at)
{
    kiln_attrs_init(at);
    const cJSON *item;
    cJSON_ArrayForEach(item, j)
    {
        const char *k = item->string;
        int rank_seen = 0;
        if (!strcmp(k, "kernel")) COPY_INTS(kernel, 2);
        else if (!strcmp(k, "stride")) COPY_INTS(stride, 2);
        else if (!strcmp(k, "dilation")) COPY_INTS(dilation, 2);
        else if (!strcmp(k, "pads")) COPY_INTS(pads, 4);
        else if (!strcmp(k, "perm")) { COPY_INTS(perm, -1); at->rank = rank_seen; }
        else if (!strcmp(k, "pads_begin")) { COPY_INTS(pads_begin, -1); at->rank = rank_seen; }
        else if (!strcmp(k, "pads_end")) COPY_INTS(pads_end, -1);
        else if (!strcmp(k, "shape")) {
            int n = json_ints(item, at->shape, KILN_MAX_RANK);
            if (n < 0) return -1;
            at->rank = n;
        } else if (!strcmp(k, "groups") && cJSON_IsNumber(item)) at->groups = item->valueint;
        else if (!strcmp(k, "axis") && cJSON_IsNumber(item)) at->axis = item->valueint;
        else if (!strcmp(k, "keepdims") && cJSON_IsNumber(item)) at->keepdims = item->valueint;
        else if (!strcmp(k, "count_include_pad") && cJSON_IsNumber(item)) at->count_include_pad = item->valueint;
        else if (!strcmp(k, "pad_value")) { if (json_float(item, &at->pad_value)) return -1; }
        else if (!strcmp(k, "eps")) { if (json_float(item, &at->eps)) return -1; }
        else if (!strcmp(k, "act")) { if (parse_act(item, &at->act)) return -1; }
        else if (!strcmp(k, "act2")) { if (parse_act(item, &at->act2)) return -1; } /* squeeze-excite gate */
        else return -1;
    }
    return 0;
}

static int same_shape(int ra, const int64_t *a, int rb, const int64_t *b)
{
    if (ra != rb) return 0;
    for (int i = 0; i < ra; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Run one case; returns 1 pass, 0 numeric failure, -1 malformed case (counted as a failure). */
static int run_case(const char *dir, const char *json_name, int *op_out)
{
    char path[4096];
    kiln_diag_clear();
    snprintf(path, sizeof path, "%s/%s", dir, json_name);
    char *text = read_text(path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    kiln_graph *g = kiln_graph_new();
    float *act_data[KILN_MAX_NODE_INPUTS] = { 0 };
    float *want = NULL, *got = NULL;
    int result = -1;
    const char *why = "malformed case";

    const cJSON *jop = cJSON_GetObjectItemCaseSensitive(root, "op");
    const cJSON *jbatch = cJSON_GetObjectItemCaseSensitive(root, "batch");
    const cJSON *jattrs = cJSON_GetObjectItemCaseSensitive(root, "attrs");
    const cJSON *jins = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    const cJSON *jout = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "output"), "file");
    const cJSON *jlabel = cJSON_GetObjectItemCaseSensitive(root, "label");
    const char *label = cJSON_IsString(jlabel) ? jlabel->valuestring : "";
    int op = cJSON_IsString(jop) ? op_from_name(jop->valuestring) : -1;
    *op_out = op;
    kiln_attrs attrs;
    if (!g || op < 0 || !cJSON_IsNumber(jbatch) || !cJSON_IsArray(jins) || !cJSON_IsString(jout) ||
        parse_attrs(jattrs, &attrs)) {
        why = "malformed case JSON (unknown op, attrs or missing fields)";
        goto done;
    }
    const int batch = jbatch->valueint;
    if (attrs.act.kind >= 0 && attrs.act.kind < KILN_ACT_COUNT) act_seen[attrs.act.kind] = 1;

    /* Inputs: activations keep their data here (the graph holds no activation data); constants go to the graph. */
    int ids[KILN_MAX_NODE_INPUTS], n_in = 0;
    const cJSON *jin;
    cJSON_ArrayForEach(jin, jins)
    {
        const cJSON *jf = cJSON_GetObjectItemCaseSensitive(jin, "file");
        const int is_const = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(jin, "constant"));
        if (!cJSON_IsString(jf) || n_in >= KILN_MAX_NODE_INPUTS) goto done;
        snprintf(path, sizeof path, "%s/%s", dir, jf->valuestring);
        float *data;
        int rank;
        int64_t dims[KILN_MAX_RANK];
        if (kiln_npy_read(path, &data, &rank, dims) != KILN_OK) {
            why = kiln_last_error();
            goto done;
        }
        char name[32];
        snprintf(name, sizeof name, "in%d", n_in);
        if (is_const) {
            ids[n_in] = kiln_graph_add_constant(g, name, rank, dims, data);
        } else {
            if (rank < 1 || dims[0] != batch) {
                free(data);
                why = "activation input does not hold `batch` samples";
                goto done;
            }
            act_data[n_in] = data;
            dims[0] = 1; /* the IR's batch placeholder */
            ids[n_in] = kiln_graph_add_input(g, name, rank, dims);
        }
        if (ids[n_in] < 0) goto done;
        n_in++;
    }
    const int out_id = kiln_graph_add_node(g, (kiln_op)op, "node", ids, n_in, &attrs);
    if (out_id < 0) {
        why = kiln_last_error();
        goto done;
    }

    /* Expected output: shape [batch, ...] equal to the inferred output shape. */
    snprintf(path, sizeof path, "%s/%s", dir, jout->valuestring);
    int wrank;
    int64_t wdims[KILN_MAX_RANK];
    if (kiln_npy_read(path, &want, &wrank, wdims) != KILN_OK) {
        why = kiln_last_error();
        goto done;
    }
    const kiln_value *ov = &g->values[out_id];
    int64_t odims[KILN_MAX_RANK];
    for (int i = 0; i < ov->rank; i++) odims[i] = ov->dims[i];
    odims[0] = batch;
    if (!same_shape(wrank, wdims, ov->rank, odims)) {
        why = "inferred output shape differs from NumPy's";
        goto done;
    }
    const int64_t n = (int64_t)batch * kiln_value_numel(ov);

    kiln_kernel_args a;
    memset(&a, 0, sizeof a);
    a.g = g;
    a.node = &g->nodes[0];
    a.batch = batch;
    for (int i = 0; i < n_in; i++) a.in[i] = act_data[i] ? act_data[i] : g->values[ids[i]].data;
    got = malloc(sizeof(float) * (size_t)(n + GUARD));
    size_t ws_bytes = kiln_ref_workspace_bytes(g, a.node, batch);
    void *ws = ws_bytes ? aligned_alloc(64, (ws_bytes + 63) / 64 * 64) : NULL;
    if (!got || (ws_bytes && !ws)) {
        free(ws);
        why = "out of memory";
        goto done;
    }
    for (int64_t i = 0; i < n + GUARD; i++) got[i] = GUARD_VALUE;
    a.out = got;
    a.workspace = ws;
    kiln_ref_kernel((kiln_op)op)(&a);
    free(ws);

    int64_t bad = 0, first = -1;
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - (double)want[i]);
        const int ok = err <= TOL_ABS + TOL_REL * fabs((double)want[i]) || (isinf(want[i]) && got[i] == want[i]);
        if (!ok) {
            if (first < 0) first = i;
            bad++;
        }
        if (err > worst || isnan(err)) worst = err;
    }
    int guard_ok = 1;
    for (int i = 0; i < GUARD; i++) guard_ok &= got[n + i] == GUARD_VALUE;
    if (bad) {
        printf("FAIL %s (%s%s%s): %lld of %lld elements off; first at %lld: got %.9g want %.9g; max |err| %.3g\n",
               json_name, kiln_op_name((kiln_op)op), *label ? ", " : "", label, (long long)bad, (long long)n,
               (long long)first, got[first], want[first], worst);
        result = 0;
    } else if (!guard_ok) {
        printf("FAIL %s (%s): the kernel wrote past the end of its output\n", json_name, kiln_op_name((kiln_op)op));
        result = 0;
    } else {
        result = 1;
    }

done:
    if (result < 0) printf("FAIL %s: %s\n", json_name, why);
    for (int i = 0; i < KILN_MAX_NODE_INPUTS; i++) free(act_data[i]);
    free(want);
    free(got);
    kiln_graph_free(g);
    cJSON_Delete(root);
    return result;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR   (cases written by tests/ops/gen_cases.py)\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "check_ref_ops: cannot open case folder %s (run gen_cases.py first)\n", argv[1]);
        return 1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json")) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 256;
            names = realloc(names, cap * sizeof *names);
        }
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, cmp_str);

    int malformed = 0;
    for (size_t i = 0; i < count; i++) {
        int op = -1;
        int r = run_case(argv[1], names[i], &op);
        if (op < 0) malformed++;
        else if (r == 1) passed[op]++;
        else failed[op]++;
        free(names[i]);
    }
    free(names);

    int total_pass = 0, total_fail = malformed, missing = 0;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        printf("%-14s %3d passed, %d failed\n", kiln_op_name((kiln_op)op), passed[op], failed[op]);
        total_pass += passed[op];
        total_fail += failed[op];
        if (!passed[op] && !failed[op]) {
            printf("MISSING: no case for op %s\n", kiln_op_name((kiln_op)op));
            missing++;
        }
    }
    for (int k = 1; k < KILN_ACT_COUNT; k++)
        if (!act_seen[k]) {
            printf("MISSING: no case for activation %s\n", kiln_act_name(k));
            missing++;
        }
    printf("reference kernels: %d passed, %d failed (tolerance %g abs + %g rel)%s\n", total_pass, total_fail,
           TOL_ABS, TOL_REL, missing ? ", coverage incomplete" : "");
    return total_fail || missing || count == 0 ? 1 : 0;
}
