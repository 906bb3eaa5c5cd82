/* Finding a layer's weights in the file.
 *
 * Every top-level layer has a group in model_weights whose weight_names attribute lists dataset paths relative to
 * the group. Their spelling differs by version ('conv2d_1_1/kernel:0' in Keras 2.0, 'conv2d_1/kernel:0' in tf.keras 2,
 * 'sequential/conv2d/kernel' in Keras 3), so a weight is identified by its LAST path component without ':0' (the
 * kind: kernel, bias, gamma...), never by position (center/scale off changes positions). Layers inside a nested
 * model share the nested model's group; their weights carry the inner layer's name as a path component. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keras_internal.h"

void kk_pool_free(kk_pool *p)
{
    if (!p) return;
    kiln_strlist_free(&p->names);
    kiln_strlist_free(&p->kinds);
    free(p->claimed);
    p->claimed = NULL;
    if (p->group >= 0) H5Gclose(p->group);
    p->group = -1;
}

const char *kk_pool_open(hid_t root, const char *name, int single_owner, kk_pool *p)
{
    memset(p, 0, sizeof(*p));
    p->group = -1;
    p->single_owner = single_owner;
    if (H5Lexists(root, name, H5P_DEFAULT) <= 0) return NULL; /* a layer without weights may have no group */
    p->group = H5Gopen2(root, name, H5P_DEFAULT);
    if (p->group < 0) return "cannot open the layer's weight group";
    const char *why = kiln_h5_read_string_list_attr(p->group, "weight_names", &p->names);
    if (why) return why;
    p->claimed = calloc((size_t)p->names.n + 1, 1);
    return p->claimed ? NULL : "out of memory";
}

/* The kind of a weight path: its last component without a ":N" suffix, into buf. */
static const char *path_kind(const char *path, char *buf, size_t cap)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    size_t n = strcspn(s, ":");
    if (n >= cap) n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* 1 when some component of path (except the last) equals name exactly. */
static int has_component(const char *path, const char *name)
{
    size_t len = strlen(name);
    const char *s = path;
    for (;;) {
        const char *slash = strchr(s, '/');
        if (!slash) return 0;
        if ((size_t)(slash - s) == len && !strncmp(s, name, len)) return 1;
        s = slash + 1;
    }
}

static int is_known_layer(const kk_ctx *c, const char *s, size_t len)
{
    for (int i = 0; i < c->n_layer_names; i++)
        if (strlen(c->layer_names[i]) == len && !strncmp(c->layer_names[i], s, len)) return 1;
    return 0;
}

/* 1 when a component equals name + "_" + digits (TF 1 name scopes made unique) and is not itself a layer name. */
static int has_suffixed_component(const kk_ctx *c, const char *path, const char *name)
{
    size_t len = strlen(name);
    const char *s = path;
    for (;;) {
        const char *slash = strchr(s, '/');
        if (!slash) return 0;
        size_t clen = (size_t)(slash - s);
        if (clen > len + 1 && !strncmp(s, name, len) && s[len] == '_') {
            size_t k = len + 1;
            while (k < clen && isdigit((unsigned char)s[k])) k++;
            if (k == clen && !is_known_layer(c, s, clen)) return 1;
        }
        s = slash + 1;
    }
}

static int kind_matches(const kk_pool *p, int i, const char *kind, const char *alt)
{
    char buf[64];
    const char *k = p->kinds.n ? (i < p->kinds.n ? p->kinds.items[i] : "") : path_kind(p->names.items[i], buf, sizeof buf);
    if (alt && !strcmp(alt, "variable")) /* Keras 3 names unnamed variables variable, variable_1, variable_2... */
        return !strcmp(k, kind) || !strncmp(k, "variable", 8);
    return !strcmp(k, kind) || (alt && !strcmp(k, alt));
}

/* Index of the pool entry holding weight `kind` of layer L, or -1. */
static int find_in_pool(const kk_ctx *c, const kk_layer *L, const char *kind, const char *alt)
{
    kk_pool *p = L->pool;
    if (!p || p->names.n == 0) return -1;
    if (p->single_owner) {
        for (int i = 0; i < p->names.n; i++)
            if (kind_matches(p, i, kind, alt)) return i;
        return -1;
    }
    for (int tier = 0; tier < 3; tier++) {
        for (int i = 0; i < p->names.n; i++) {
            const char *path = p->names.items[i];
            if (p->claimed[i] || !kind_matches(p, i, kind, alt)) continue;
            if (tier == 0 && has_component(path, L->name)) return i;
            if (tier == 1 && has_suffixed_component(c, path, L->name)) return i;
            /* Last resort: file order (the first unclaimed weight of this kind whose path names no known layer). */
            if (tier == 2) {
                int names_other = 0;
                for (const char *s = path;;) {
                    const char *slash = strchr(s, '/');
                    if (!slash) break;
                    if (is_known_layer(c, s, (size_t)(slash - s))) names_other = 1;
                    s = slash + 1;
                }
                if (!names_other) return i;
            }
        }
    }
    return -1;
}

static int cache_find(const kk_ctx *c, const cJSON *layer, const char *kind)
{
    for (int i = 0; i < c->n_cache; i++)
        if (c->cache[i].layer == layer && !strcmp(c->cache[i].kind, kind)) return c->cache[i].value;
    return -1;
}

static kiln_status cache_add(kk_ctx *c, const cJSON *layer, const char *kind, int value)
{
    if (c->n_cache == c->cap_cache) {
        int cap = c->cap_cache ? c->cap_cache * 2 : 256;
        kk_cached_weight *p = realloc(c->cache, sizeof(*p) * (size_t)cap);
        if (!p) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        c->cache = p;
        c->cap_cache = cap;
    }
    kk_cached_weight *e = &c->cache[c->n_cache++];
    e->layer = layer;
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    e->value = value;
    return KILN_OK;
}

static void shape_text(int rank, const int64_t *d, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", (long long)d[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

kiln_status kk_weight(kk_ctx *c, const kk_layer *L, const char *kind, const char *alt_kind, int required, int rank,
                      const int64_t *expect, const int64_t *as_dims, int *id)
{
    *id = cache_find(c, L->json, kind);
    if (*id >= 0) return KILN_OK;
    int idx = find_in_pool(c, L, kind, alt_kind);
    if (idx < 0) {
        if (!required) return KILN_OK;
        return kiln_fail(KILN_ERR_FORMAT, "%s: layer '%s' (%s): weight '%s' not found in the file", c->path, L->name,
                         L->class_name, kind);
    }
    const char *path = L->pool->names.items[idx];
    int frank = 0;
    int64_t fd[KILN_MAX_RANK];
    float *data = NULL;
    const char *why = kiln_h5_read_floats(L->pool->group, path, &frank, fd, &data);
    if (why)
        return kiln_fail(KILN_ERR_FORMAT, "%s: layer '%s' (%s): weight '%s': %s", c->path, L->name, L->class_name,
                         path, why);
    int ok = frank == rank;
    for (int i = 0; ok && i < rank; i++) ok = expect[i] < 0 || expect[i] == fd[i];
    if (!ok) {
        char got[96], want[96];
        shape_text(frank, fd, got, sizeof got);
        shape_text(rank, expect, want, sizeof want);
        free(data);
        return kiln_fail(KILN_ERR_SHAPE, "%s: layer '%s' (%s): weight '%s' has shape %s, the layer config implies %s "
                         "(-1 = any)", c->path, L->name, L->class_name, path, got, want);
    }
    L->pool->claimed[idx] = 1;
    char cname[320];
    snprintf(cname, sizeof cname, "%s/%s", L->node_name, kind);
    *id = kiln_graph_add_constant(c->g, cname, rank, as_dims ? as_dims : fd, data);
    if (*id < 0) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory adding weight '%s'", c->path, cname);
    return cache_add(c, L->json, kind, *id);
}

kiln_status kk_fill(kk_ctx *c, const kk_layer *L, const char *kind, int64_t n, float value, int *id)
{
    *id = cache_find(c, L->json, kind);
    if (*id >= 0) return KILN_OK;
    float *data = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!data) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    for (int64_t i = 0; i < n; i++) data[i] = value;
    char cname[320];
    snprintf(cname, sizeof cname, "%s/%s", L->node_name, kind);
    *id = kiln_graph_add_constant(c->g, cname, 1, &n, data);
    if (*id < 0) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory adding '%s'", c->path, cname);
    return cache_add(c, L->json, kind, *id);
}
