/* NumPy .npy reader and writer (see npy.h for the format). Every size read from the file is checked against the
 * file's length before it is used. */
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"

/* Largest header we accept: NumPy's own limit for readers is far beyond any real header of a rank <= 6 array. */
#define NPY_MAX_HEADER (1 << 20)

typedef enum { NPY_F4, NPY_F8, NPY_I8, NPY_I4, NPY_U1, NPY_I1 } npy_dtype;

static const struct {
    const char *descr;
    npy_dtype type;
    int size;
} npy_dtypes[] = {
    { "<f4", NPY_F4, 4 }, { "<f8", NPY_F8, 8 }, { "<i8", NPY_I8, 8 },
    { "<i4", NPY_I4, 4 }, { "|u1", NPY_U1, 1 }, { "|i1", NPY_I1, 1 },
};

/* ---- header dict parsing -------------------------------------------------------------------------------------- */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string ('...' or "...") into buf; 0 on success. */
static int parse_string(cursor *c, char *buf, size_t cap)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    const char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= cap) return -1;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    buf[n] = '\0';
    return 0;
}

static int parse_word(cursor *c, const char *word)
{
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n)) return 0;
    c->p += n;
    return 1;
}

/* A tuple of non-negative integers: (), (5,), (2, 3). Returns 0, or -1 malformed, -2 too many axes. */
static int parse_shape(cursor *c, int *rank, int64_t *dims)
{
    if (!eat(c, '(')) return -1;
    *rank = 0;
    for (;;) {
        if (eat(c, ')')) return 0;
        skip_space(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return -1;
            v = v * 10 + (*c->p++ - '0');
        }
        skip_space(c);
        if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
        if (*rank >= KILN_MAX_RANK) return -2;
        dims[(*rank)++] = v;
        if (!eat(c, ',')) return eat(c, ')') ? 0 : -1;
    }
}

/* Parse the header dict; fills descr, fortran flag and the shape. Returns a status naming `path`. */
static kiln_status parse_header(const char *path, const char *h, size_t len, char *descr, size_t dcap, int *fortran,
                                int *rank, int64_t *dims)
{
    cursor c = { h, h + len };
    int have = 0; /* bit 0 descr, 1 fortran_order, 2 shape */
    if (!eat(&c, '{')) return kiln_fail(KILN_ERR_FORMAT, "%s: .npy header is not a dict", path);
    while (!eat(&c, '}')) {
        char key[32];
        if (parse_string(&c, key, sizeof key) || !eat(&c, ':'))
            return kiln_fail(KILN_ERR_FORMAT, "%s: malformed .npy header", path);
        if (!strcmp(key, "descr")) {
            if (parse_string(&c, descr, dcap))
                return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: .npy 'descr' is not a simple dtype (structured arrays "
                                 "are not supported)", path);
            have |= 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (parse_word(&c, "True")) *fortran = 1;
            else if (parse_word(&c, "False")) *fortran = 0;
            else return kiln_fail(KILN_ERR_FORMAT, "%s: .npy 'fortran_order' is not True or False", path);
            have |= 2;
        } else if (!strcmp(key, "shape")) {
            int r = parse_shape(&c, rank, dims);
            if (r == -2)
                return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: array has more than %d axes", path, KILN_MAX_RANK);
            if (r) return kiln_fail(KILN_ERR_FORMAT, "%s: malformed .npy 'shape'", path);
            have |= 4;
        } else {
            return kiln_fail(KILN_ERR_FORMAT, "%s: unknown key '%s' in the .npy header", path, key);
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}')) return kiln_fail(KILN_ERR_FORMAT, "%s: malformed .npy header", path);
            break;
        }
    }
    if (have != 7) return kiln_fail(KILN_ERR_FORMAT, "%s: .npy header lacks descr, fortran_order or shape", path);
    return KILN_OK;
}

/* ---- little-endian decoding ----------------------------------------------------------------------------------- */

static uint64_t load_le(const unsigned char *p, int size)
{
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static float decode(const unsigned char *p, npy_dtype t)
{
    switch (t) {
    case NPY_F4: {
        uint32_t u = (uint32_t)load_le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case NPY_F8: {
        uint64_t u = load_le(p, 8);
        double d;
        memcpy(&d, &u, 8);
        return (float)d;
    }
    case NPY_I8: return (float)(int64_t)load_le(p, 8);
    case NPY_I4: return (float)(int32_t)(uint32_t)load_le(p, 4);
    case NPY_U1: return (float)p[0];
    case NPY_I1: return (float)(int8_t)p[0];
    }
    return 0.0f;
}

/* ---- reader --------------------------------------------------------------------------------------------------- */

static kiln_status read_file(const char *path, FILE *f, float **data, int *rank, int64_t *dims)
{
    if (fseek(f, 0, SEEK_END)) return kiln_fail(KILN_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    const long flen = ftell(f);
    if (flen < 0 || fseek(f, 0, SEEK_SET)) return kiln_fail(KILN_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    const uint64_t file_len = (uint64_t)flen;

    unsigned char pre[12];
    const size_t got = fread(pre, 1, 10, f);
    if (got < 10) {
        /* A prefix of the magic is a cut-off .npy file; anything else is not a .npy file at all. */
        const size_t m = got < 6 ? got : 6;
        if (got == 0) return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated .npy file (empty)", path);
        if (!memcmp(pre, "\x93NUMPY", m))
            return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated .npy file (%zu bytes, preamble cut short)", path, got);
        return kiln_fail(KILN_ERR_FORMAT, "%s: not a .npy file (%zu bytes)", path, got);
    }
    if (memcmp(pre, "\x93NUMPY", 6)) return kiln_fail(KILN_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    const int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3)
        return kiln_fail(KILN_ERR_VERSION, "%s: .npy format version %d.%d is not supported (1.x to 3.x are)", path,
                         major, minor);
    uint64_t hlen, pre_len;
    if (major == 1) {
        hlen = load_le(pre + 8, 2);
        pre_len = 10;
    } else {
        if (file_len < 12 || fread(pre + 10, 1, 2, f) != 2)
            return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated .npy file (preamble cut short)", path);
        hlen = load_le(pre + 8, 4);
        pre_len = 12;
    }
    if (hlen > NPY_MAX_HEADER)
        return kiln_fail(KILN_ERR_FORMAT, "%s: .npy header length %llu is implausible", path,
                         (unsigned long long)hlen);
    if (pre_len + hlen > file_len)
        return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated .npy file (header needs %llu bytes, file has %llu)", path,
                         (unsigned long long)(pre_len + hlen), (unsigned long long)file_len);

    char *h = malloc(hlen + 1);
    if (!h) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory reading the .npy header", path);
    if (fread(h, 1, hlen, f) != hlen) {
        free(h);
        return kiln_fail(KILN_ERR_IO, "%s: cannot read the .npy header", path);
    }
    h[hlen] = '\0';
    char descr[32];
    int fortran = 0;
    kiln_status st = parse_header(path, h, hlen, descr, sizeof descr, &fortran, rank, dims);
    free(h);
    if (st != KILN_OK) return st;

    int di = -1;
    for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
        if (!strcmp(descr, npy_dtypes[i].descr)) di = (int)i;
    if (di < 0)
        return kiln_fail(KILN_ERR_UNSUPPORTED,
                         "%s: .npy dtype '%s' is not supported (little-endian <f4, <f8, <i8, <i4, |u1, |i1 are)",
                         path, descr);
    if (fortran && *rank > 1)
        return kiln_fail(KILN_ERR_UNSUPPORTED,
                         "%s: .npy array is in Fortran order; save it in C order (numpy.ascontiguousarray)", path);

    /* Element count and byte size, checked for overflow and against what the file holds. */
    const uint64_t avail = file_len - pre_len - hlen;
    uint64_t count = 1;
    for (int i = 0; i < *rank; i++) {
        if (dims[i] != 0 && count > UINT64_MAX / 8 / (uint64_t)dims[i])
            return kiln_fail(KILN_ERR_FORMAT, "%s: .npy shape is too large", path);
        count *= (uint64_t)dims[i];
    }
    const int isz = npy_dtypes[di].size;
    const uint64_t bytes = count * (uint64_t)isz;
    if (bytes > avail)
        return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated .npy file (shape needs %llu data bytes, file has %llu)",
                         path, (unsigned long long)bytes, (unsigned long long)avail);
    if (bytes < avail)
        return kiln_fail(KILN_ERR_TRUNCATED, "%s: .npy file has %llu bytes after the data its shape describes "
                         "(corrupt or not a single array)", path, (unsigned long long)(avail - bytes));
    if (count > SIZE_MAX / sizeof(float))
        return kiln_fail(KILN_ERR_NO_MEMORY, "%s: .npy array does not fit in memory", path);

    unsigned char *raw = malloc(bytes ? (size_t)bytes : 1);
    float *out = malloc(count ? (size_t)count * sizeof(float) : 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory for %llu elements", path, (unsigned long long)count);
    }
    if (fread(raw, 1, (size_t)bytes, f) != bytes) {
        free(raw);
        free(out);
        return kiln_fail(KILN_ERR_IO, "%s: cannot read the .npy data", path);
    }
    for (uint64_t i = 0; i < count; i++) out[i] = decode(raw + i * (uint64_t)isz, npy_dtypes[di].type);
    free(raw);
    *data = out;
    return KILN_OK;
}

kiln_status kiln_npy_read(const char *path, float **data, int *rank, int64_t *dims)
{
    *data = NULL;
    *rank = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_fail(KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    kiln_status st = read_file(path, f, data, rank, dims);
    fclose(f);
    return st;
}

/* ---- writer --------------------------------------------------------------------------------------------------- */

kiln_status kiln_npy_write(const char *path, const float *data, int rank, const int64_t *dims)
{
    if (rank < 0 || rank > KILN_MAX_RANK)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: cannot write a rank-%d array", path, rank);
    char h[256];
    size_t n = (size_t)snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    uint64_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: negative dimension %lld", path, (long long)dims[i]);
        n += (size_t)snprintf(h + n, sizeof h - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
        count *= (uint64_t)dims[i];
    }
    n += (size_t)snprintf(h + n, sizeof h - n, "%s), }", rank == 1 ? "," : "");
    /* Pad with spaces so the data starts on a 64-byte boundary (10 preamble bytes + header), ending in '\n'. */
    while ((10 + n + 1) % 64) h[n++] = ' ';
    h[n++] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f) return kiln_fail(KILN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff),
                              (unsigned char)(n >> 8) };
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h, 1, n, f) == n;
    /* Little-endian float32 regardless of the host's byte order, in chunks. */
    unsigned char buf[4096];
    for (uint64_t i = 0; ok && i < count;) {
        size_t k = 0;
        for (; k + 4 <= sizeof buf && i < count; i++, k += 4) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            buf[k] = (unsigned char)u;
            buf[k + 1] = (unsigned char)(u >> 8);
            buf[k + 2] = (unsigned char)(u >> 16);
            buf[k + 3] = (unsigned char)(u >> 24);
        }
        ok = fwrite(buf, 1, k, f) == k;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) return kiln_fail(KILN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return KILN_OK;
}
