/* Reading an ONNX file: the whole file through protobuf-c's generated ModelProto parser, and tensor payloads from
 * raw_data, the typed repeated fields or an external data file next to the model (location/offset/length). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

#define MAX_NUMEL ((int64_t)1 << 36) /* 256 GiB of floats: anything above is a corrupt dims field */

static kiln_status read_all(const char *path, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_fail(KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END)) goto io;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET)) goto io;
    *buf = malloc((size_t)n + 1);
    if (!*buf) {
        fclose(f);
        return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory reading %ld bytes", path, n);
    }
    if (fread(*buf, 1, (size_t)n, f) != (size_t)n) goto io;
    fclose(f);
    *len = (size_t)n;
    return KILN_OK;
io:
    free(*buf);
    *buf = NULL;
    fclose(f);
    return kiln_fail(KILN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
}

kiln_status ox_load(ox_ctx *c, const char *path)
{
    unsigned char *buf;
    size_t len;
    kiln_status st = read_all(path, &buf, &len);
    if (st) return st;
    c->model = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!c->model)
        return kiln_fail(KILN_ERR_FORMAT, "%s: not a valid ONNX protobuf (ModelProto does not parse: the file is "
                         "truncated or corrupt)", path);
    if (!c->model->graph)
        return kiln_fail(KILN_ERR_FORMAT, "%s: ONNX model without a graph", path);
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 1;
    c->dir = malloc(dl + 1);
    if (!c->dir) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", path);
    memcpy(c->dir, slash ? path : ".", dl);
    c->dir[dl] = '\0';
    return KILN_OK;
}

static int elem_size(int t)
{
    switch (t) {
    case OX_FLOAT: case OX_INT32: case 12: return 4;
    case OX_DOUBLE: case OX_INT64: case 13: return 8;
    case OX_FLOAT16: case 4: case 5: return 2;
    case OX_UINT8: case OX_INT8: case OX_BOOL: return 1;
    default: return 0;
    }
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man) bits = sign;
    else { /* subnormal half: normalize */
        exp = 113;
        while (!(man & 0x400)) man <<= 1, exp--;
        bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Little-endian element i of type t at p -> v (float or int64). */
static void decode_one(int t, const unsigned char *p, ox_val *v, int64_t i)
{
    switch (t) {
    case OX_FLOAT: { float x; memcpy(&x, p, 4); v->f[i] = x; break; }
    case OX_DOUBLE: { double x; memcpy(&x, p, 8); v->f[i] = (float)x; break; }
    case OX_FLOAT16: { uint16_t x; memcpy(&x, p, 2); v->f[i] = half_to_float(x); break; }
    case OX_INT64: case 13: { int64_t x; memcpy(&x, p, 8); v->i[i] = x; break; }
    case OX_INT32: { int32_t x; memcpy(&x, p, 4); v->i[i] = x; break; }
    case 12: { uint32_t x; memcpy(&x, p, 4); v->i[i] = x; break; }
    case 5: { int16_t x; memcpy(&x, p, 2); v->i[i] = x; break; }
    case 4: { uint16_t x; memcpy(&x, p, 2); v->i[i] = x; break; }
    case OX_INT8: v->i[i] = (int8_t)p[0]; break;
    default: v->i[i] = p[0]; break; /* uint8, bool */
    }
}

static kiln_status read_external(ox_ctx *c, const Onnx__TensorProto *t, int64_t bytes, unsigned char **out)
{
    const char *loc = NULL;
    int64_t off = 0, len = -1;
    for (size_t k = 0; k < t->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = t->external_data[k];
        if (!e->key || !e->value) continue;
        if (!strcmp(e->key, "location")) loc = e->value;
        else if (!strcmp(e->key, "offset")) off = strtoll(e->value, NULL, 10);
        else if (!strcmp(e->key, "length")) len = strtoll(e->value, NULL, 10);
    }
    const char *tn = t->name ? t->name : "?";
    if (!loc || !*loc)
        return kiln_fail(KILN_ERR_FORMAT, "%s: tensor '%s': external data without a location", c->path, tn);
    if (loc[0] == '/' || strstr(loc, ".."))
        return kiln_fail(KILN_ERR_FORMAT, "%s: tensor '%s': external data location '%s' must be a relative path "
                         "inside the model's folder", c->path, tn, loc);
    if (len >= 0 && len != bytes)
        return kiln_fail(KILN_ERR_FORMAT, "%s: tensor '%s': external data length %lld, the dims need %lld bytes",
                         c->path, tn, (long long)len, (long long)bytes);
    size_t pl = strlen(c->dir) + strlen(loc) + 2;
    char *p = malloc(pl);
    if (!p) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    snprintf(p, pl, "%s/%s", c->dir, loc);
    FILE *f = fopen(p, "rb");
    if (!f) {
        kiln_status st = kiln_fail(KILN_ERR_IO, "%s: tensor '%s': cannot open external data file %s: %s", c->path,
                                   tn, p, strerror(errno));
        free(p);
        return st;
    }
    *out = malloc((size_t)bytes + 1);
    int ok = *out && off >= 0 && !fseek(f, (long)off, SEEK_SET) && fread(*out, 1, (size_t)bytes, f) == (size_t)bytes;
    fclose(f);
    if (!ok) {
        free(*out);
        *out = NULL;
        kiln_status st = kiln_fail(KILN_ERR_TRUNCATED, "%s: tensor '%s': external data file %s is too short for "
                                   "%lld bytes at offset %lld", c->path, tn, p, (long long)bytes, (long long)off);
        free(p);
        return st;
    }
    free(p);
    return KILN_OK;
}

kiln_status ox_tensor(ox_ctx *c, const Onnx__TensorProto *t, ox_val *v)
{
    memset(v, 0, sizeof *v);
    v->name = t->name ? t->name : "";
    v->kind = OX_CONST;
    int type = t->has_data_type ? t->data_type : 0;
    int es = elem_size(type);
    if (!es)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: tensor '%s': data type %d is not supported (kiln reads float, "
                         "double, float16 and integer/bool tensors)", c->path, v->name, type);
    if (t->n_dims > OX_MAX_RANK)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: tensor '%s': rank %zu is above %d", c->path, v->name, t->n_dims,
                         OX_MAX_RANK);
    v->rank = (int)t->n_dims;
    v->numel = 1;
    for (int d = 0; d < v->rank; d++) {
        if (t->dims[d] < 0 || (t->dims[d] && v->numel > MAX_NUMEL / t->dims[d]))
            return kiln_fail(KILN_ERR_FORMAT, "%s: tensor '%s': bad dimension %lld", c->path, v->name,
                             (long long)t->dims[d]);
        v->dims[d] = t->dims[d];
        v->numel *= t->dims[d];
    }
    v->is_int = !(type == OX_FLOAT || type == OX_DOUBLE || type == OX_FLOAT16);
    if (v->is_int) v->i = malloc(sizeof(int64_t) * (size_t)(v->numel ? v->numel : 1));
    else v->f = malloc(sizeof(float) * (size_t)(v->numel ? v->numel : 1));
    if (!v->i && !v->f) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: tensor '%s': out of memory", c->path, v->name);

    int64_t bytes = v->numel * es;
    const unsigned char *raw = NULL;
    unsigned char *ext = NULL;
    kiln_status st = KILN_ERR_FORMAT;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        st = read_external(c, t, bytes, &ext);
        if (st) goto fail;
        raw = ext;
    } else if (t->has_raw_data) {
        if ((int64_t)t->raw_data.len != bytes) {
            kiln_fail(KILN_ERR_FORMAT, "%s: tensor '%s': raw_data holds %zu bytes, the dims need %lld", c->path,
                      v->name, t->raw_data.len, (long long)bytes);
            goto fail;
        }
        raw = t->raw_data.data;
    }
    if (raw) {
        for (int64_t k = 0; k < v->numel; k++) decode_one(type, raw + k * es, v, k);
        free(ext);
        return KILN_OK;
    }
    /* Typed fields: float_data (float), double_data, int64_data, int32_data (int32 and narrower, float16 bits),
     * uint64_data (uint32/uint64). */
    size_t have = type == OX_FLOAT ? t->n_float_data : type == OX_DOUBLE ? t->n_double_data
                : type == OX_INT64 ? t->n_int64_data : (type == 12 || type == 13) ? t->n_uint64_data
                : t->n_int32_data;
    if ((int64_t)have != v->numel) {
        kiln_fail(KILN_ERR_FORMAT, "%s: tensor '%s': holds %zu values, the dims need %lld", c->path, v->name, have,
                  (long long)v->numel);
        goto fail;
    }
    for (int64_t k = 0; k < v->numel; k++) {
        switch (type) {
        case OX_FLOAT: v->f[k] = t->float_data[k]; break;
        case OX_DOUBLE: v->f[k] = (float)t->double_data[k]; break;
        case OX_FLOAT16: v->f[k] = half_to_float((uint16_t)t->int32_data[k]); break;
        case OX_INT64: v->i[k] = t->int64_data[k]; break;
        case 12: case 13: v->i[k] = (int64_t)t->uint64_data[k]; break;
        default: v->i[k] = t->int32_data[k]; break;
        }
    }
    return KILN_OK;
fail:
    free(v->f);
    free(v->i);
    v->f = NULL;
    v->i = NULL;
    return st;
}
