/* Engine file v7 (docs/ENGINE_FORMAT.md): save -> load gives identical outputs with the weights used in place from
 * the mapping; truncated, non-engine, corrupt (checksum), wrong-version and wrong-target files are refused with the
 * matching status and message; and files whose checksum is valid but whose content is nonsense are refused (or, if
 * they happen to be consistent, run) without reading out of bounds — run this under ASan to see that. */
#include <unistd.h>

#include "test_engine_util.h"

/* The test's own CRC-32 (bitwise, no table): independent of src/format/checksum.c. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static void put32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }

/* Re-seal a patched image: the CRC-32 of everything before the last 4 bytes goes into those 4 bytes. */
static void reseal(uint8_t *b, size_t n) { put32(b + n - 4, crc32_bitwise(b, n - 4)); }

static void expect_load_fails(const char *path, kiln_status want, const char *msg, const char *what)
{
    kiln_engine *e = (kiln_engine *)1;
    kiln_status st = kiln_engine_load(path, &e);
    CHECK(st == want && e == NULL && strstr(kiln_last_error(), msg), "%s: want %s containing '%s', got %s '%s'", what,
          kiln_status_string(want), msg, kiln_status_string(st), kiln_last_error());
    if (st == KILN_OK) kiln_engine_free(e);
}

static char tmp_path[256], tmp_bad[256];

static void run_batch(const kiln_engine *e, const float *x, float *y, int batch)
{
    kiln_context *ctx = NULL;
    CHECK_OK(kiln_context_create(e, &ctx));
    if (!ctx) return;
    CHECK_OK(t_run(ctx, 1, (const float *const[]){ x }, 1, (float *[]){ y }, batch));
    kiln_context_free(ctx);
}

int main(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/kiln_test_engine_%d.kiln", (int)getpid());
    snprintf(tmp_bad, sizeof tmp_bad, "/tmp/kiln_test_engine_%d_bad.kiln", (int)getpid());
    t_rng = 4242u;
    kiln_network *net = t_network(t_graph_cnn());
    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.batch_max = 4;
    kiln_engine *built = NULL, *loaded = NULL;
    CHECK_OK(kiln_engine_build(net, &opt, &built));
    if (!built) return 1;
    CHECK_OK(kiln_engine_save(built, tmp_path));

    /* ---- save -> load: same description, same numbers, weights in the mapping ---- */
    CHECK_OK(kiln_engine_load(tmp_path, &loaded));
    if (!loaded) return 1;
    CHECK(loaded->map != NULL && (char *)loaded->weights > (char *)loaded->map &&
              ((uintptr_t)loaded->weights & 63) == 0,
          "weights not in the mapping");
    for (int v = 0; v < loaded->g->n_values; v++) {
        const kiln_value *val = &loaded->g->values[v];
        if (val->kind == KILN_VALUE_CONSTANT)
            CHECK((char *)val->data >= (char *)loaded->map &&
                      (char *)val->data + kiln_value_numel(val) * 4 <= (char *)loaded->map + loaded->map_bytes &&
                      !val->owns_data,
                  "constant '%s' was copied out of the mapping", val->name);
    }
    CHECK(loaded->g->n_nodes == built->g->n_nodes && loaded->arena_bytes == built->arena_bytes &&
              loaded->batch_min == 1 && loaded->batch_max == 4 && !strcmp(loaded->source_format, "test"),
          "loaded engine differs");
    for (int i = 0; i < built->g->n_nodes; i++)
        CHECK(!strcmp(loaded->g->nodes[i].name, built->g->nodes[i].name) &&
                  !memcmp(&loaded->g->nodes[i].attrs, &built->g->nodes[i].attrs, sizeof(kiln_attrs)),
              "layer %d differs after reload", i);
    float x[4 * 8 * 8 * 3], y_built[40], y_loaded[40], y_oracle[40];
    t_fill(x, 4 * 8 * 8 * 3, -1, 1);
    for (int batch = 1; batch <= 4; batch += 3) {
        run_batch(built, x, y_built, batch);
        run_batch(loaded, x, y_loaded, batch);
        CHECK(!memcmp(y_built, y_loaded, sizeof(float) * 10 * (size_t)batch), "batch %d: reloaded engine differs", batch);
        t_oracle(net->g, batch, (const float *const[]){ x }, (float *[]){ y_oracle });
        float d = t_max_abs_diff(y_oracle, y_loaded, 10 * batch);
        CHECK(d <= 1e-5f, "batch %d: reloaded engine vs oracle %g", batch, d);
    }
    kiln_tensor_info info;
    CHECK_OK(kiln_engine_input_info(loaded, 0, &info));
    CHECK(!strcmp(info.name, "input_1") && info.rank == 4 && info.dims[0] == 4 && info.dims[3] == 3 &&
              info.layout == KILN_LAYOUT_NHWC,
          "input info after reload");
    kiln_engine_free(loaded);
    loaded = NULL;

    size_t n = 0;
    uint8_t *img = slurp(tmp_path, &n);
    uint8_t *b = malloc(n);
    CHECK(n > 100 && !memcmp(img, "KILNENG\0", 8) && get32(img + 8) == 7 && get32(img + 12) == 0x01020304u,
          "header bytes");
    CHECK(crc32_bitwise(img, n - 4) == get32(img + n - 4), "the trailer is not the CRC-32 of the file");
    CHECK(((uint64_t)get32(img + 16) | (uint64_t)get32(img + 20) << 32) == n, "declared size");

    /* ---- truncated ---- */
    spit(tmp_bad, img, n / 2);
    expect_load_fails(tmp_bad, KILN_ERR_TRUNCATED, "truncated", "half file");
    spit(tmp_bad, img, 20);
    expect_load_fails(tmp_bad, KILN_ERR_TRUNCATED, "truncated", "20-byte file");
    spit(tmp_bad, img, n - 1);
    expect_load_fails(tmp_bad, KILN_ERR_TRUNCATED, "truncated", "one byte short");
    spit(tmp_bad, img, 0);
    expect_load_fails(tmp_bad, KILN_ERR_TRUNCATED, "truncated", "empty file");
    /* ---- not an engine ---- */
    spit(tmp_bad, (const uint8_t *)"\x89HDF\r\n\x1a\n and more bytes than a header needs, surely, yes indeed!!", 64);
    expect_load_fails(tmp_bad, KILN_ERR_FORMAT, "not a kiln engine", "HDF5 file");
    expect_load_fails("/nonexistent/dir/x.kiln", KILN_ERR_IO, "cannot open", "missing file");
    /* ---- flipped byte: checksum ---- */
    size_t flips[] = { 60, n / 2, n - 10 };
    for (size_t k = 0; k < 3; k++) {
        memcpy(b, img, n);
        b[flips[k]] ^= 0x10;
        spit(tmp_bad, b, n);
        expect_load_fails(tmp_bad, KILN_ERR_CHECKSUM, "corrupt (checksum mismatch", "flipped byte");
    }
    /* ---- version ---- */
    memcpy(b, img, n);
    put32(b + 8, 1);
    spit(tmp_bad, b, n);
    expect_load_fails(tmp_bad, KILN_ERR_VERSION, "wrong version (file v1, this kiln reads v7)", "version 1");
    /* ---- byte order ---- */
    memcpy(b, img, n);
    put32(b + 12, 0x04030201u);
    spit(tmp_bad, b, n);
    expect_load_fails(tmp_bad, KILN_ERR_FORMAT, "opposite byte order", "byte order");
    /* ---- target (checksum recomputed, so only the target is wrong) ---- */
    memcpy(b, img, n);
    uint32_t other = kiln_host_target() == KILN_TARGET_CPU_X86_64 ? KILN_TARGET_CPU_AARCH64 : KILN_TARGET_CPU_X86_64;
    put32(b + 24, other);
    reseal(b, n);
    spit(tmp_bad, b, n);
    char want[160];
    snprintf(want, sizeof want, "built for %s, this machine is %s", kiln_target_name(other),
             kiln_target_name(kiln_host_target()));
    expect_load_fails(tmp_bad, KILN_ERR_TARGET, want, "other target");
    /* ---- valid checksum, impossible counts: value count at 48 + 20 (options, v5) + (4 + strlen("test")) ---- */
    memcpy(b, img, n);
    CHECK(get32(b + 76) == (uint32_t)built->g->n_values, "value count not where the spec puts it");
    put32(b + 76, 0x7FFFFFFFu);
    reseal(b, n);
    spit(tmp_bad, b, n);
    expect_load_fails(tmp_bad, KILN_ERR_FORMAT, "corrupt (value count", "huge value count");
    /* samples per pass (options + 16) above batch_max */
    memcpy(b, img, n);
    CHECK(get32(b + 64) == (uint32_t)built->pass_batch, "pass_batch not where the spec puts it"); /* timed: 0..2 */
    put32(b + 64, 99);
    reseal(b, n);
    spit(tmp_bad, b, n);
    expect_load_fails(tmp_bad, KILN_ERR_FORMAT, "corrupt (samples per pass 99", "pass_batch above batch_max");
    memcpy(b, img, n);
    put32(b + 32, 8); /* weights offset inside the header */
    reseal(b, n);
    spit(tmp_bad, b, n);
    expect_load_fails(tmp_bad, KILN_ERR_FORMAT, "corrupt", "weights offset");

    /* ---- mutation sweep over the metadata, each file re-sealed: load must refuse or give a runnable engine ---- */
    size_t meta_end = (size_t)get32(img + 32);
    int refused = 0, accepted = 0;
    const uint8_t masks[] = { 0x01, 0x80, 0xFF };
    for (size_t at = 28; at < meta_end; at++) {
        memcpy(b, img, n);
        b[at] ^= masks[at % 3];
        reseal(b, n);
        spit(tmp_bad, b, n);
        kiln_engine *e = NULL;
        kiln_status st = kiln_engine_load(tmp_bad, &e);
        if (st != KILN_OK) {
            refused++;
            CHECK(st == KILN_ERR_FORMAT || st == KILN_ERR_TARGET, "byte %zu: status %s (%s)", at,
                  kiln_status_string(st), kiln_last_error());
            continue;
        }
        accepted++;
        kiln_tensor_info ii, oi;
        CHECK_OK(kiln_engine_input_info(e, 0, &ii));
        CHECK_OK(kiln_engine_output_info(e, 0, &oi));
        int64_t in_n = 1, out_n = 1;
        for (int d = 0; d < ii.rank; d++) in_n *= ii.dims[d];
        for (int d = 0; d < oi.rank; d++) out_n *= oi.dims[d];
        float *xi = calloc((size_t)in_n, sizeof(float)), *yo = calloc((size_t)out_n, sizeof(float));
        kiln_context *ctx = NULL;
        if (kiln_context_create(e, &ctx) == KILN_OK) {
            kiln_context_bind_input(ctx, 0, xi);
            kiln_context_bind_output(ctx, 0, yo);
            kiln_context_run(ctx, e->batch_min);
        }
        kiln_context_free(ctx);
        free(xi);
        free(yo);
        kiln_engine_free(e);
    }
    printf("mutation sweep: %d refused, %d accepted and ran (names, attributes the op ignores, harmless values)\n",
           refused, accepted);
    CHECK(refused > 0, "no mutation was refused");

    free(img);
    free(b);
    remove(tmp_path);
    remove(tmp_bad);
    kiln_engine_free(built);
    t_network_free(net);
    if (t_failures) {
        fprintf(stderr, "test_engine_file: %d check(s) failed\n", t_failures);
        return 1;
    }
    printf("test_engine_file: all checks passed\n");
    return 0;
}
