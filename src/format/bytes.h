/* Little-endian field writer and bounds-checked field reader for the engine file. Fields are written one by one as
 * bytes (never a struct), so the file is the same on every compiler and machine. */
#ifndef KILN_FORMAT_BYTES_H
#define KILN_FORMAT_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer: a growing byte buffer; `oom` latches the first allocation failure ---- */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    int oom;
} kiln_wbuf;

static inline uint8_t *kiln_w_reserve(kiln_wbuf *w, size_t n)
{
    if (w->oom) return NULL;
    if (w->len + n > w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 4096;
        while (nc < w->len + n) nc *= 2;
        uint8_t *p = realloc(w->p, nc);
        if (!p) {
            w->oom = 1;
            return NULL;
        }
        w->p = p;
        w->cap = nc;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}
static inline void kiln_w_u32(kiln_wbuf *w, uint32_t v)
{
    uint8_t *b = kiln_w_reserve(w, 4);
    if (b)
        for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}
static inline void kiln_w_u64(kiln_wbuf *w, uint64_t v)
{
    uint8_t *b = kiln_w_reserve(w, 8);
    if (b)
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
}
static inline void kiln_w_i32(kiln_wbuf *w, int32_t v) { kiln_w_u32(w, (uint32_t)v); }
static inline void kiln_w_i64(kiln_wbuf *w, int64_t v) { kiln_w_u64(w, (uint64_t)v); }
static inline void kiln_w_f32(kiln_wbuf *w, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4); /* IEEE-754 bit pattern */
    kiln_w_u32(w, u);
}
static inline void kiln_w_bytes(kiln_wbuf *w, const void *p, size_t n)
{
    uint8_t *b = kiln_w_reserve(w, n);
    if (b && n) memcpy(b, p, n);
}
static inline void kiln_w_str(kiln_wbuf *w, const char *s)
{
    size_t n = strlen(s);
    kiln_w_u32(w, (uint32_t)n);
    kiln_w_bytes(w, s, n);
}
/* Overwrite a u64 already written at `at` (the header's file size, known at the end). */
static inline void kiln_w_patch_u64(kiln_wbuf *w, size_t at, uint64_t v)
{
    if (!w->oom)
        for (int i = 0; i < 8; i++) w->p[at + i] = (uint8_t)(v >> (8 * i));
}

/* ---- reader: every read checks the bytes left; `bad` latches the first overrun and reads then return 0 ---- */
typedef struct {
    const uint8_t *p;
    size_t len, pos;
    int bad;
} kiln_rbuf;

static inline const uint8_t *kiln_r_take(kiln_rbuf *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *at = r->p + r->pos;
    r->pos += n;
    return at;
}
static inline uint32_t kiln_r_u32(kiln_rbuf *r)
{
    const uint8_t *b = kiln_r_take(r, 4);
    if (!b) return 0;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t kiln_r_u64(kiln_rbuf *r)
{
    const uint8_t *b = kiln_r_take(r, 8);
    if (!b) return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}
static inline int32_t kiln_r_i32(kiln_rbuf *r) { return (int32_t)kiln_r_u32(r); }
static inline int64_t kiln_r_i64(kiln_rbuf *r) { return (int64_t)kiln_r_u64(r); }
static inline float kiln_r_f32(kiln_rbuf *r)
{
    uint32_t u = kiln_r_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* A length-prefixed string, copied into a new NUL-terminated malloc'd string (NULL on overrun or no memory). */
static inline char *kiln_r_str(kiln_rbuf *r)
{
    uint32_t n = kiln_r_u32(r);
    const uint8_t *b = kiln_r_take(r, n);
    if (!b) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, b, n);
    s[n] = '\0';
    return s;
}

#endif
