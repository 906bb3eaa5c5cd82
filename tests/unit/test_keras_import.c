/* Keras importer tests.
 *
 *   test_keras_import                      real files of ../shared/models/keras_real (skipped when absent) + bad input
 *   test_keras_import DIR EXPECTED_FILE    the models of DIR listed in EXPECTED_FILE (tests/keras_import/tests.cmake)
 *
 * Expectations (input/output shapes, parameter counts, node counts, layer names) come from h5py and Keras
 * (tests/keras_import/make_expected.py), never from kiln. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/graph.h"
#include "kiln.h"
#include "runtime/engine_internal.h"

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                      \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
        }                                                                                                              \
    } while (0)

static int parse_dims(const char *s, int64_t *d, int cap)
{
    int n = 0;
    while (*s && n < cap) {
        d[n++] = strtoll(s, (char **)&s, 10);
        if (*s == ',') s++;
        else break;
    }
    return n;
}

static const char *field(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? p + strlen(key) : NULL;
}

static int has_node_named(const kiln_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return 1;
    return 0;
}

/* One line of the expectations file: import the model and compare. */
static void check_model(const char *dir, char *line)
{
    char file[512], path[1200];
    if (sscanf(line, "%511s", file) != 1) return;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    kiln_network *net = NULL;
    kiln_status st = kiln_network_import(path, &net);
    CHECK(st == KILN_OK, "%s: import failed: %s", file, kiln_last_error());
    if (st != KILN_OK) return;
    CHECK(!strcmp(kiln_network_format(net), "keras-h5"), "%s: format '%s'", file, kiln_network_format(net));
    const kiln_graph *g = net->g;
    int64_t in[KILN_MAX_RANK], out[KILN_MAX_RANK];
    int nin = parse_dims(field(line, "inputs="), in, KILN_MAX_RANK);
    int nout = parse_dims(field(line, "outputs="), out, KILN_MAX_RANK);
    long long params = atoll(field(line, "params="));
    int nodes = atoi(field(line, "nodes="));
    CHECK(g->n_inputs == 1 && g->n_outputs == 1, "%s: %d inputs %d outputs", file, g->n_inputs, g->n_outputs);
    const kiln_value *vi = &g->values[g->inputs[0]], *vo = &g->values[g->outputs[0]];
    CHECK(vi->rank == nin + 1 && vi->dims[0] == 1, "%s: input rank %d", file, vi->rank);
    for (int i = 0; i < nin && i + 1 < vi->rank; i++)
        CHECK(vi->dims[i + 1] == in[i], "%s: input dim %d is %lld, Keras says %lld", file, i + 1,
              (long long)vi->dims[i + 1], (long long)in[i]);
    CHECK(vo->rank == nout + 1, "%s: output rank %d", file, vo->rank);
    for (int i = 0; i < nout && i + 1 < vo->rank; i++)
        CHECK(vo->dims[i + 1] == out[i], "%s: output dim %d is %lld, Keras says %lld", file, i + 1,
              (long long)vo->dims[i + 1], (long long)out[i]);
    CHECK(kiln_graph_param_count(g) == params, "%s: %lld parameters, the file holds %lld", file,
          (long long)kiln_graph_param_count(g), params);
    CHECK(g->n_nodes == nodes, "%s: %d nodes, expected %d", file, g->n_nodes, nodes);
    /* Every Keras layer keeps its name as a node name (nested models flattened). */
    char *names = strdup(field(line, "layers="));
    int n_names = 0;
    for (char *tok = strtok(names, ",\n"); tok; tok = strtok(NULL, ",\n"), n_names++)
        CHECK(has_node_named(g, tok), "%s: no node named after layer '%s'", file, tok);
    free(names);
    CHECK(n_names > 0, "%s: no layer names in the expectations", file);
    CHECK(kiln_graph_check(g, "test") == KILN_OK, "%s: graph check: %s", file, kiln_last_error());
    printf("ok %s: %d nodes, %lld params\n", file, g->n_nodes, (long long)params);
    kiln_network_free(net);
}

static int run_expectations(const char *dir, const char *expected)
{
    FILE *f = fopen(expected, "r");
    if (!f) {
        fprintf(stderr, "FAIL cannot open %s: %s\n", expected, strerror(errno));
        return 1;
    }
    char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && line[0] != '\n') {
            check_model(dir, line);
            n++;
        }
    fclose(f);
    CHECK(n > 0, "%s lists no models", expected);
    return 0;
}

static int copy_prefix(const char *src, const char *dst, long bytes, long zero_from, long zero_len)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return -1;
    }
    char buf[65536];
    long done = 0;
    while (done < bytes) {
        size_t want = (size_t)(bytes - done) < sizeof buf ? (size_t)(bytes - done) : sizeof buf;
        size_t got = fread(buf, 1, want, in);
        if (!got) break;
        for (size_t i = 0; i < got; i++)
            if (done + (long)i >= zero_from && done + (long)i < zero_from + zero_len) buf[i] = 0;
        fwrite(buf, 1, got, out);
        done += (long)got;
    }
    fclose(in);
    fclose(out);
    return 0;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* Import must fail with status `want` (or any failure when want == KILN_OK) and a message containing `needle`
 * and the path. */
static void expect_failure(const char *path, kiln_status want, const char *needle)
{
    kiln_network *net = (kiln_network *)1;
    kiln_status st = kiln_network_import(path, &net);
    const char *msg = kiln_last_error();
    CHECK(st != KILN_OK, "%s: import should fail", path);
    CHECK(net == NULL, "%s: *out must be NULL on failure", path);
    if (want != KILN_OK) CHECK(st == want, "%s: status %s, expected %s (%s)", path, kiln_status_string(st),
                               kiln_status_string(want), msg);
    CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: %s", path, msg);
    if (needle) CHECK(strstr(msg, needle) != NULL, "%s: message lacks '%s': %s", path, needle, msg);
    if (st != KILN_OK) printf("ok refused %s: %s\n", path, msg);
    else kiln_network_free(net);
}

static void bad_input_tests(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/kiln_test_keras_%d_missing.h5", (int)getpid());
    expect_failure(path, KILN_ERR_IO, "cannot open");

    snprintf(path, sizeof path, "/tmp/kiln_test_keras_%d.txt", (int)getpid());
    const char *text = "this is not a model\n";
    write_file(path, text, strlen(text));
    expect_failure(path, KILN_ERR_FORMAT, "unrecognized format");
    write_file(path, "", 0);
    expect_failure(path, KILN_ERR_FORMAT, "unrecognized format");
    write_file(path, "PK\3\4 zip archive", 17); /* a zip header, then nothing: a truncated .keras archive */
    expect_failure(path, KILN_ERR_FORMAT, ".keras");
    write_file(path, "KILNENG\0 engine", 15);
    expect_failure(path, KILN_ERR_INVALID_ARGUMENT, "load");
    /* An HDF5 signature followed by garbage: detected as HDF5, refused cleanly. */
    unsigned char fake[4096] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
    for (size_t i = 8; i < sizeof fake; i++) fake[i] = (unsigned char)(i * 7);
    write_file(path, fake, sizeof fake);
    expect_failure(path, KILN_OK, NULL);
    unlink(path);
}

/* Truncated and damaged copies of a real file are refused with a message naming the copy, never a crash. */
static void damaged_file_tests(const char *real)
{
    long size = file_size(real);
    if (size <= 0) return;
    char path[256];
    snprintf(path, sizeof path, "/tmp/kiln_test_keras_%d_trunc.h5", (int)getpid());
    const double cuts[] = { 0.001, 0.1, 0.5, 0.9, 0.999 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK(copy_prefix(real, path, (long)(size * cuts[i]), 0, 0) == 0, "cannot write %s", path);
        expect_failure(path, KILN_OK, NULL);
    }
    /* Superblock and root object headers zeroed after the signature. */
    CHECK(copy_prefix(real, path, size, 16, 2048) == 0, "cannot write %s", path);
    expect_failure(path, KILN_OK, NULL);
    unlink(path);
}

int main(int argc, char **argv)
{
    if (argc == 3) {
        run_expectations(argv[1], argv[2]);
    } else {
        bad_input_tests();
        const char *src = getenv("KILN_SOURCE_DIR");
        char dir[1024], expected[1024], probe[1200];
        snprintf(dir, sizeof dir, "%s/../shared/models/keras_real", src ? src : ".");
        /* Written at test time by tests/keras_import/make_expected.py (h5py + Keras), never committed: it describes
         * files under ../shared, which stay out of the repository. */
        const char *bld = getenv("KILN_BUILD_DIR");
        snprintf(expected, sizeof expected, "%s/keras_import_expected_real.txt", bld ? bld : ".");
        snprintf(probe, sizeof probe, "%s/kr224_nnom_mnist_densenet.h5", dir);
        if (access(probe, R_OK) != 0 || access(expected, R_OK) != 0) {
            printf("SKIP real Keras files: %s or %s is absent (../shared is not in every checkout; the expectations "
                   "need h5py + tf_keras)\n", dir, expected);
        } else {
            run_expectations(dir, expected);
            /* A Lambda model is refused with ONE message listing every Lambda layer. */
            kiln_network *net = NULL;
            kiln_status st = kiln_network_import(probe, &net);
            const char *msg = kiln_last_error();
            CHECK(st == KILN_ERR_UNSUPPORTED && net == NULL, "nnom densenet: status %s", kiln_status_string(st));
            CHECK(strstr(msg, "unsupported layers") && strstr(msg, "'lambda_1' (Lambda)") &&
                      strstr(msg, "'lambda_13' (Lambda)") && strstr(msg, "kr224_nnom_mnist_densenet.h5"),
                  "nnom densenet message: %s", msg);
            CHECK(strchr(msg, '\n') == NULL, "the unsupported-layer list is one message: %s", msg);
            CHECK(strstr(msg, "conv2d_1'") == NULL, "a supported layer is listed: %s", msg);
            printf("ok refused nnom densenet: %s\n", msg);
            snprintf(probe, sizeof probe, "%s/tfk240_tm_water.h5", dir);
            damaged_file_tests(probe);
        }
    }
    printf("%s: %d failure(s)\n", argv[0], failures);
    return failures ? 1 : 0;
}
