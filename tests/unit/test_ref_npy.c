/* src/util/npy: .npy round trips, files laid out byte for byte as NumPy writes them, other dtypes and versions,
 * and refusal of every truncated, corrupt or unsupported file with the right status and a message naming the file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/status.h"
#include "util/npy.h"

static int failures, checks;
static char dir[512];

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        checks++;                                                                                                      \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
        }                                                                                                              \
    } while (0)

static const char *tmp_path(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static size_t read_bytes(const char *path, unsigned char *b, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, cap, f);
    fclose(f);
    return n;
}

/* A .npy file by hand: v<major>.0 preamble, the given header dict (padded to 64 bytes), then `data`. */
static size_t make_npy(unsigned char *out, int major, const char *dict, const void *data, size_t data_len)
{
    const size_t pre = major == 1 ? 10 : 12;
    size_t hlen = strlen(dict) + 1;
    while ((pre + hlen) % 64) hlen++;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) out[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(out + pre, ' ', hlen);
    memcpy(out + pre, dict, strlen(dict));
    out[pre + hlen - 1] = '\n';
    memcpy(out + pre + hlen, data, data_len);
    return pre + hlen + data_len;
}

/* Read path expecting `want`; the message must name the file and contain `needle`. */
static void expect_refused(const char *path, kiln_status want, const char *needle, const char *what)
{
    float *data = (float *)1;
    int rank;
    int64_t dims[KILN_MAX_RANK];
    kiln_status st = kiln_npy_read(path, &data, &rank, dims);
    CHECK(st == want, "%s: status %s, want %s (%s)", what, kiln_status_string(st), kiln_status_string(want),
          kiln_last_error());
    CHECK(data == NULL, "%s: data not NULL on failure", what);
    CHECK(strstr(kiln_last_error(), path) != NULL, "%s: message does not name the file: %s", what, kiln_last_error());
    CHECK(strstr(kiln_last_error(), needle) != NULL, "%s: message lacks '%s': %s", what, needle, kiln_last_error());
    if (st == KILN_OK) free(data);
}

static void test_round_trip(void)
{
    static const int64_t shapes[][KILN_MAX_RANK] = { { 0 }, { 7 }, { 2, 3 }, { 1, 4, 5, 3 }, { 2, 1, 3, 1, 2, 2 },
                                                     { 3, 0, 2 } };
    static const int ranks[] = { 0, 1, 2, 4, 6, 3 };
    for (int s = 0; s < 6; s++) {
        int64_t n = 1;
        for (int i = 0; i < ranks[s]; i++) n *= shapes[s][i];
        float *x = malloc(sizeof(float) * (size_t)(n + 1));
        for (int64_t i = 0; i < n; i++) x[i] = (float)((i * 7919) % 1000) / 37.0f - 13.0f;
        if (n > 3) {
            x[0] = -0.0f;
            x[1] = INFINITY;
            x[2] = NAN;
            x[3] = 1e-40f; /* subnormal */
        }
        const char *p = tmp_path("round.npy");
        CHECK(kiln_npy_write(p, x, ranks[s], shapes[s]) == KILN_OK, "write rank %d: %s", ranks[s], kiln_last_error());
        float *y = NULL;
        int rank = -1;
        int64_t dims[KILN_MAX_RANK];
        kiln_status st = kiln_npy_read(p, &y, &rank, dims);
        CHECK(st == KILN_OK, "read back rank %d: %s", ranks[s], kiln_last_error());
        if (st == KILN_OK) {
            CHECK(rank == ranks[s], "rank %d read back as %d", ranks[s], rank);
            for (int i = 0; i < ranks[s] && i < rank; i++)
                CHECK(dims[i] == shapes[s][i], "rank %d axis %d: %lld", ranks[s], i, (long long)dims[i]);
            CHECK(memcmp(x, y, sizeof(float) * (size_t)n) == 0, "rank %d: data differs bit for bit", ranks[s]);
            free(y);
        }
        free(x);
    }
}

/* kiln writes exactly NumPy's bytes (numpy.save of a float32 array, header padded to 64). */
static void test_numpy_layout(void)
{
    const char *want = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    const float x[6] = { 1.0f, -2.5f, 3.0f, 0.0f, 0.5f, 100.0f };
    const int64_t dims[2] = { 2, 3 };
    const char *p = tmp_path("layout.npy");
    CHECK(kiln_npy_write(p, x, 2, dims) == KILN_OK, "write: %s", kiln_last_error());
    unsigned char b[512];
    size_t n = read_bytes(p, b, sizeof b);
    CHECK(n == 128 + 24, "file is %zu bytes, NumPy writes 152", n);
    CHECK(n >= 128 && memcmp(b, want, strlen(want) + 3) == 0, "header differs from NumPy's"); /* +3: NULs */
    int spaces = 1;
    for (size_t i = 10 + 60; i < 127 && i < n; i++) spaces &= b[i] == ' ';
    CHECK(spaces && n >= 128 && b[127] == '\n', "header padding differs from NumPy's");
    /* 1.0f = 0x3f800000 little-endian; -2.5f = 0xc0200000 */
    CHECK(n >= 136 && !memcmp(b + 128, "\x00\x00\x80\x3f\x00\x00\x20\xc0", 8), "data not little-endian float32");

    const int64_t d1[1] = { 5 };
    float five[5] = { 0 };
    kiln_npy_write(p, five, 1, d1);
    n = read_bytes(p, b, sizeof b);
    const char *want1 = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }";
    CHECK(n == 128 + 20 && !memcmp(b + 10, want1, strlen(want1)), "1-D shape not written as (5,)");
}

static void test_other_dtypes(void)
{
    unsigned char buf[1024];
    const char *p = tmp_path("dtype.npy");
    float *y;
    int rank;
    int64_t dims[KILN_MAX_RANK];

    const double d[3] = { 1.5, -2.25, 1e10 };
    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d));
    CHECK(kiln_npy_read(p, &y, &rank, dims) == KILN_OK, "<f8: %s", kiln_last_error());
    if (y) CHECK(rank == 1 && y[0] == 1.5f && y[1] == -2.25f && y[2] == 1e10f, "<f8 values");
    free(y);

    const int32_t i4[4] = { -7, 0, 255, 1 << 20 };
    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", i4, 16));
    CHECK(kiln_npy_read(p, &y, &rank, dims) == KILN_OK, "<i4: %s", kiln_last_error());
    if (y) CHECK(rank == 2 && y[0] == -7.0f && y[2] == 255.0f && y[3] == 1048576.0f, "<i4 values");
    free(y);

    const int64_t i8[2] = { -3, 123456789 };
    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8, 16));
    CHECK(kiln_npy_read(p, &y, &rank, dims) == KILN_OK, "<i8: %s", kiln_last_error());
    if (y) CHECK(y[0] == -3.0f && y[1] == 123456789.0f, "<i8 values");
    free(y);

    /* An image as NumPy saves it: uint8 [1,2,2,3]; version 2.0 and 3.0 headers, keys in another order. */
    unsigned char px[12] = { 0, 1, 2, 127, 128, 200, 255, 9, 8, 7, 6, 5 };
    for (int major = 2; major <= 3; major++) {
        write_bytes(p, buf, make_npy(buf, major, "{'shape': (1, 2, 2, 3), 'fortran_order': False, \"descr\": '|u1'}",
                                     px, sizeof px));
        CHECK(kiln_npy_read(p, &y, &rank, dims) == KILN_OK, "|u1 v%d: %s", major, kiln_last_error());
        if (y) CHECK(rank == 4 && dims[3] == 3 && y[4] == 128.0f && y[6] == 255.0f, "|u1 v%d values", major);
        free(y);
    }

    /* fortran_order True is harmless for one axis (the same bytes) */
    const float f1[2] = { 4.0f, 5.0f };
    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f1, 8));
    CHECK(kiln_npy_read(p, &y, &rank, dims) == KILN_OK, "1-D fortran: %s", kiln_last_error());
    free(y);
}

static void test_refusals(void)
{
    unsigned char buf[2048];
    const char *p = tmp_path("bad.npy");
    const float x[6] = { 1, 2, 3, 4, 5, 6 };
    const size_t good = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x, sizeof x);

    /* Every proper prefix of a valid file is refused as truncated. */
    int prefixes_ok = 1;
    for (size_t len = 0; len < good; len++) {
        write_bytes(p, buf, len);
        float *y = NULL;
        int rank;
        int64_t dims[KILN_MAX_RANK];
        kiln_status st = kiln_npy_read(p, &y, &rank, dims);
        if (st != KILN_ERR_TRUNCATED || y || !strstr(kiln_last_error(), "truncated")) {
            prefixes_ok = 0;
            fprintf(stderr, "prefix of %zu bytes: %s: %s\n", len, kiln_status_string(st), kiln_last_error());
        }
        free(y);
    }
    CHECK(prefixes_ok, "some truncated prefix was not refused as truncated");
    write_bytes(p, buf, good - 4);
    expect_refused(p, KILN_ERR_TRUNCATED, "shape needs 24 data bytes", "data cut by one float");

    unsigned char extra[2048];
    memcpy(extra, buf, good);
    memset(extra + good, 0, 8);
    write_bytes(p, extra, good + 8);
    expect_refused(p, KILN_ERR_TRUNCATED, "after the data", "trailing bytes");

    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", x, 24));
    expect_refused(p, KILN_ERR_UNSUPPORTED, "Fortran order", "fortran_order True");

    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", x, 24));
    expect_refused(p, KILN_ERR_UNSUPPORTED, "'>f4'", "big-endian");

    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", x, 24));
    expect_refused(p, KILN_ERR_UNSUPPORTED, "'<c8'", "complex dtype");

    write_bytes(p, buf,
                make_npy(buf, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", x, 24));
    expect_refused(p, KILN_ERR_UNSUPPORTED, "structured", "structured dtype");

    write_bytes(p, buf,
                make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 6), }", x, 24));
    expect_refused(p, KILN_ERR_UNSUPPORTED, "more than 6 axes", "rank 7");

    write_bytes(p, buf, make_npy(buf, 1,
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (4611686018427387904, 4611686018427387904), }", x, 24));
    expect_refused(p, KILN_ERR_FORMAT, "too large", "overflowing shape");

    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", x, 24));
    expect_refused(p, KILN_ERR_FORMAT, "shape", "negative dimension");

    write_bytes(p, buf, make_npy(buf, 1, "{'descr': '<f4', 'shape': (2, 3), }", x, 24));
    expect_refused(p, KILN_ERR_FORMAT, "lacks", "missing key");

    write_bytes(p, buf, make_npy(buf, 1, "['descr', '<f4']", x, 24));
    expect_refused(p, KILN_ERR_FORMAT, "not a dict", "header not a dict");

    make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x, 24);
    buf[6] = 4;
    write_bytes(p, buf, good);
    expect_refused(p, KILN_ERR_VERSION, "version 4.0", "version 4");

    buf[6] = 1;
    buf[0] = 'P';
    write_bytes(p, buf, good);
    expect_refused(p, KILN_ERR_FORMAT, "bad magic", "bad magic");

    make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x, 24);
    buf[8] = 0xff, buf[9] = 0xff; /* header length beyond the file */
    write_bytes(p, buf, good);
    expect_refused(p, KILN_ERR_TRUNCATED, "header needs", "header length past the end");

    expect_refused(tmp_path("missing.npy"), KILN_ERR_IO, "cannot open", "missing file");

    const int64_t dims[1] = { 1 };
    CHECK(kiln_npy_write(tmp_path("no/such/dir.npy"), x, 1, dims) == KILN_ERR_IO, "write into a missing folder");
    CHECK(kiln_npy_write(p, x, 7, dims) == KILN_ERR_INVALID_ARGUMENT, "write rank 7");
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/kiln_test_npy_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_numpy_layout();
    test_other_dtypes();
    test_refusals();
    const char *names[] = { "round.npy", "layout.npy", "dtype.npy", "bad.npy" };
    for (int i = 0; i < 4; i++) unlink(tmp_path(names[i]));
    rmdir(dir);
    printf("test_ref_npy: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
