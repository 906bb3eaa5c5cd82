/* Keras 3 native format (.keras): a zip archive holding config.json (the model config, same schema as a Keras 3 .h5's
 * model_config), metadata.json (keras_version) and model.weights.h5, whose layout differs from every .h5 model file:
 * one group per layer, named after the layer's CLASS in snake case and made unique per container with _1, _2...
 * in the order of the model's layer list (layers/conv2d, layers/conv2d_1, layers/functional/layers/dense...), and the
 * layer's variables stored as vars/0, vars/1... in the order the layer created them (no names).
 *
 * The zip reader is small and careful: it trusts only the central directory, supports the two methods Python's
 * zipfile writes (stored, deflate via zlib), refuses zip64 and encryption with a clear message, and bounds every
 * offset by the file size. The weights file is opened in memory through HDF5's core driver. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "keras_internal.h"

/* ---- zip ------------------------------------------------------------------------------------------------------ */

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }

typedef struct {
    FILE *f;
    long size;
    unsigned char *cd; /* owned: the central directory */
    uint32_t cd_size, n_entries;
} kk_zip;

static const char *zip_open(const char *path, kk_zip *z)
{
    memset(z, 0, sizeof *z);
    z->f = fopen(path, "rb");
    if (!z->f) return "cannot open the file";
    if (fseek(z->f, 0, SEEK_END) || (z->size = ftell(z->f)) < 22) return "too small to be a zip archive";
    /* End of central directory: 22 bytes + a comment of up to 65535 bytes, at the very end. */
    long tail = z->size < 22 + 65535 ? z->size : 22 + 65535;
    unsigned char *buf = malloc((size_t)tail);
    if (!buf) return "out of memory";
    const char *why = NULL;
    if (fseek(z->f, z->size - tail, SEEK_SET) || fread(buf, 1, (size_t)tail, z->f) != (size_t)tail) {
        why = "cannot read the end of the archive";
        goto done;
    }
    long eocd = -1;
    for (long i = tail - 22; i >= 0; i--)
        if (le32(buf + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    if (eocd < 0) {
        why = "no zip end-of-central-directory record (truncated archive?)";
        goto done;
    }
    const unsigned char *e = buf + eocd;
    z->n_entries = le16(e + 10);
    z->cd_size = le32(e + 12);
    uint32_t cd_off = le32(e + 16);
    if (z->n_entries == 0xffff || z->cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        why = "zip64 archive (over 4 GiB or 65535 files): not supported";
        goto done;
    }
    if ((long)cd_off + (long)z->cd_size > z->size) {
        why = "central directory outside the file (truncated archive?)";
        goto done;
    }
    z->cd = malloc(z->cd_size ? z->cd_size : 1);
    if (!z->cd) {
        why = "out of memory";
        goto done;
    }
    if (fseek(z->f, (long)cd_off, SEEK_SET) || fread(z->cd, 1, z->cd_size, z->f) != z->cd_size) {
        why = "cannot read the central directory";
        goto done;
    }
    /* Walk every header once so that an entry count or size that disagrees with the directory is refused up front,
     * whichever entry is looked up later. */
    uint32_t pos = 0;
    for (uint32_t i = 0; i < z->n_entries; i++) {
        if (pos + 46 > z->cd_size || le32(z->cd + pos) != 0x02014b50u) {
            why = "corrupt central directory (its entry count or size is wrong)";
            goto done;
        }
        pos += 46 + le16(z->cd + pos + 28) + le16(z->cd + pos + 30) + le16(z->cd + pos + 32);
    }
    if (pos > z->cd_size) why = "corrupt central directory (its entry count or size is wrong)";
done:
    free(buf);
    return why;
}

static void zip_close(kk_zip *z)
{
    if (z->f) fclose(z->f);
    free(z->cd);
    memset(z, 0, sizeof *z);
}

/* Extract entry `name` into *data (malloc'd, caller owns; one extra NUL byte so JSON can be parsed in place).
 * Returns NULL, or a reason; *found = 0 when the archive has no such entry. */
static const char *zip_read(kk_zip *z, const char *name, unsigned char **data, size_t *len, int *found)
{
    *data = NULL;
    *len = 0;
    *found = 0;
    size_t nlen = strlen(name);
    uint32_t pos = 0;
    for (uint32_t i = 0; i < z->n_entries; i++) {
        if (pos + 46 > z->cd_size || le32(z->cd + pos) != 0x02014b50u) return "corrupt central directory";
        const unsigned char *h = z->cd + pos;
        uint32_t flags = le16(h + 8), method = le16(h + 10), csize = le32(h + 20), usize = le32(h + 24);
        uint32_t fn = le16(h + 28), ex = le16(h + 30), cm = le16(h + 32), local = le32(h + 42);
        if (pos + 46 + fn > z->cd_size) return "corrupt central directory";
        int match = fn == nlen && !memcmp(h + 46, name, nlen);
        pos += 46 + fn + ex + cm;
        if (!match) continue;
        *found = 1;
        if (flags & 1) return "encrypted zip entry";
        if (csize == 0xffffffffu || usize == 0xffffffffu || local == 0xffffffffu) return "zip64 entry: not supported";
        if (method != 0 && method != 8) return "zip entry compressed with a method other than stored/deflate";
        /* deflate expands at most ~1032:1; a larger claim is a corrupt header, not a reason to allocate gigabytes */
        if ((method == 0 && usize != csize) || (method == 8 && (uint64_t)usize > (uint64_t)csize * 1032u + 64u))
            return "zip entry sizes are inconsistent (corrupt header)";
        unsigned char lh[30];
        if (fseek(z->f, (long)local, SEEK_SET) || fread(lh, 1, 30, z->f) != 30 || le32(lh) != 0x04034b50u)
            return "corrupt local zip header";
        long start = (long)local + 30 + (long)le16(lh + 26) + (long)le16(lh + 28);
        if (start + (long)csize > z->size) return "zip entry runs past the end of the file (truncated archive?)";
        unsigned char *comp = malloc(csize ? csize : 1), *out = malloc((size_t)usize + 1);
        if (!comp || !out) {
            free(comp);
            free(out);
            return "out of memory";
        }
        if (fseek(z->f, start, SEEK_SET) || fread(comp, 1, csize, z->f) != csize) {
            free(comp);
            free(out);
            return "cannot read a zip entry (truncated archive?)";
        }
        const char *why = NULL;
        if (method == 0) {
            if (csize != usize) why = "stored zip entry with differing sizes";
            else memcpy(out, comp, usize);
        } else {
            z_stream s;
            memset(&s, 0, sizeof s);
            if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
                why = "zlib initialisation failed";
            } else {
                s.next_in = comp;
                s.avail_in = csize;
                s.next_out = out;
                s.avail_out = usize;
                int r = inflate(&s, Z_FINISH);
                if (r != Z_STREAM_END || s.total_out != usize) why = "corrupt deflate data in a zip entry";
                inflateEnd(&s);
            }
        }
        if (!why && crc32(crc32(0L, Z_NULL, 0), out, usize) != le32(h + 16)) why = "zip entry fails its CRC check";
        free(comp);
        if (why) {
            free(out);
            return why;
        }
        out[usize] = 0;
        *data = out;
        *len = usize;
        return NULL;
    }
    return NULL;
}

/* ---- layer -> weight group ------------------------------------------------------------------------------------ */

/* keras.src.utils.naming.to_snake_case: drop non-word characters, "(.)([A-Z][a-z]+)" -> "\1_\2",
 * "([a-z])([A-Z])" -> "\1_\2" (each left to right, non-overlapping, like re.sub), lower case. */
static void snake_case(const char *cls, char *out, size_t cap)
{
    char a[256], b[512];
    size_t n = 0;
    for (const char *p = cls; *p && n + 1 < sizeof a; p++)
        if (isalnum((unsigned char)*p) || *p == '_') a[n++] = *p;
    a[n] = 0;
    size_t m = 0;
    for (size_t i = 0; i < n && m + 3 < sizeof b;) {
        if (i + 2 < n + 1 && isupper((unsigned char)a[i + 1]) && islower((unsigned char)a[i + 2])) {
            b[m++] = a[i];
            b[m++] = '_';
            b[m++] = a[i + 1];
            i += 2;
            while (i < n && islower((unsigned char)a[i]) && m + 2 < sizeof b) b[m++] = a[i++];
        } else {
            b[m++] = a[i++];
        }
    }
    b[m] = 0;
    size_t k = 0;
    for (size_t i = 0; i < m && k + 2 < cap;) {
        if (islower((unsigned char)b[i]) && isupper((unsigned char)b[i + 1])) {
            out[k++] = b[i];
            out[k++] = '_';
            out[k++] = (char)tolower((unsigned char)b[i + 1]);
            i += 2;
        } else {
            out[k++] = (char)tolower((unsigned char)b[i]);
            i++;
        }
    }
    out[k] = 0;
}

static const cJSON *cfg_of(const cJSON *l) { return cJSON_GetObjectItemCaseSensitive(l, "config"); }

/* Python's class __name__: the config's class_name without a registration package ("pkg>Name"). */
static const char *class_of(const cJSON *layer)
{
    const char *cls = kk_str(layer, "class_name");
    const char *gt = cls ? strrchr(cls, '>') : NULL;
    return gt ? gt + 1 : cls;
}

static const cJSON *layers_in(const cJSON *model)
{
    const cJSON *cfg = cfg_of(model);
    if (cJSON_IsArray(cfg)) return cfg;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(cfg, "layers");
    return cJSON_IsArray(l) ? l : NULL;
}

static kiln_status map_add(kk_ctx *c, const cJSON *layer, const char *path)
{
    if (c->n_k3_paths == c->cap_k3_paths) {
        int cap = c->cap_k3_paths ? c->cap_k3_paths * 2 : 256;
        kk_k3_path *p = realloc(c->k3_paths, sizeof(*p) * (size_t)cap);
        if (!p) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        c->k3_paths = p;
        c->cap_k3_paths = cap;
    }
    char *d = malloc(strlen(path) + 1);
    if (!d) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    strcpy(d, path);
    c->k3_paths[c->n_k3_paths].layer = layer;
    c->k3_paths[c->n_k3_paths++].path = d;
    return KILN_OK;
}

typedef struct {
    char name[128];
    int count;
} kk_used;

static kiln_status map_model(kk_ctx *c, const cJSON *model, const char *prefix, int depth)
{
    const cJSON *layers = layers_in(model);
    if (!layers || depth > 32) return KILN_OK;
    const char *mcls = kk_str(model, "class_name");
    int sequential = mcls && !strcmp(mcls, "Sequential");
    int n = cJSON_GetArraySize(layers), n_used = 0;
    kk_used *used = calloc((size_t)(n ? n : 1), sizeof *used);
    if (!used) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    kiln_status st = KILN_OK;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers)
    {
        const char *cls = class_of(layer);
        if (!cls) continue;
        if (sequential && !strcmp(cls, "InputLayer")) continue; /* not in Sequential's tracked layer list */
        char snake[128], path[1024];
        snake_case(cls, snake, sizeof snake);
        int k = 0;
        while (k < n_used && strcmp(used[k].name, snake)) k++;
        if (k == n_used) {
            snprintf(used[n_used++].name, sizeof used[0].name, "%s", snake);
            snprintf(path, sizeof path, "%s%slayers/%s", prefix, *prefix ? "/" : "", snake);
        } else {
            snprintf(path, sizeof path, "%s%slayers/%s_%d", prefix, *prefix ? "/" : "", snake, ++used[k].count);
        }
        if ((st = map_add(c, layer, path))) break;
        if (kk_is_model_class(cls) && (st = map_model(c, layer, path, depth + 1))) break;
    }
    free(used);
    return st;
}

kiln_status kk_k3_map(kk_ctx *c, const cJSON *model) { return map_model(c, model, "", 0); }

/* The names of a layer's variables in creation order (Keras 3 build() methods). */
static int var_kinds(const char *cls, const cJSON *cfg, const char **k)
{
    int n = 0;
    if (!strcmp(cls, "BatchNormalization")) {
        if (kk_bool(cfg, "scale", 1)) k[n++] = "gamma";
        if (kk_bool(cfg, "center", 1)) k[n++] = "beta";
        k[n++] = "moving_mean";
        k[n++] = "moving_variance";
    } else if (!strcmp(cls, "LayerNormalization")) {
        if (kk_bool(cfg, "scale", 1)) k[n++] = "gamma";
        if (kk_bool(cfg, "center", 1)) k[n++] = "beta";
    } else if (!strcmp(cls, "SeparableConv2D") || !strcmp(cls, "SeparableConv1D")) {
        k[n++] = "depthwise_kernel";
        k[n++] = "pointwise_kernel";
        k[n++] = "bias";
    } else if (!strcmp(cls, "Normalization")) {
        k[n++] = "mean";
        k[n++] = "variance";
        k[n++] = "count";
    } else if (!strcmp(cls, "LayerScale")) {
        k[n++] = "gamma";
    } else {
        k[n++] = "kernel"; /* Conv*, DepthwiseConv2D (its kernel is called kernel in Keras 3), Dense */
        k[n++] = "bias";
    }
    return n;
}

const char *kk_k3_pool_open(kk_ctx *c, const cJSON *layer, kk_pool *p)
{
    memset(p, 0, sizeof *p);
    p->group = -1;
    p->single_owner = 1;
    const char *path = NULL;
    for (int i = 0; i < c->n_k3_paths && !path; i++)
        if (c->k3_paths[i].layer == layer) path = c->k3_paths[i].path;
    if (!path) return NULL;
    char vars[1100];
    snprintf(vars, sizeof vars, "%s/vars", path);
    /* H5Lexists needs every intermediate link to exist: check the path one component at a time. */
    for (char *s = strchr(vars, '/');; s = strchr(s + 1, '/')) {
        if (s) *s = 0;
        int ok = H5Lexists(c->k3_root, vars, H5P_DEFAULT) > 0;
        if (s) *s = '/';
        if (!ok) return NULL; /* a layer without variables may have no group */
        if (!s) break;
    }
    p->group = H5Gopen2(c->k3_root, vars, H5P_DEFAULT);
    if (p->group < 0) return "cannot open the layer's weight group";
    const char *kinds[8];
    const char *cls = class_of(layer);
    int nk = var_kinds(cls ? cls : "", cfg_of(layer), kinds);
    for (int i = 0;; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        if (H5Lexists(p->group, name, H5P_DEFAULT) <= 0) break;
        char **items = realloc(p->names.items, sizeof(char *) * (size_t)(i + 1));
        char **kitems = realloc(p->kinds.items, sizeof(char *) * (size_t)(i + 1));
        if (items) p->names.items = items;
        if (kitems) p->kinds.items = kitems;
        if (!items || !kitems) return "out of memory";
        const char *kind = i < nk ? kinds[i] : name;
        p->names.items[i] = malloc(strlen(name) + 1);
        p->kinds.items[i] = malloc(strlen(kind) + 1);
        if (p->names.items[i]) strcpy(p->names.items[i], name);
        if (p->kinds.items[i]) strcpy(p->kinds.items[i], kind);
        p->names.n = p->kinds.n = i + 1;
        if (!p->names.items[i] || !p->kinds.items[i]) return "out of memory";
    }
    p->claimed = calloc((size_t)p->names.n + 1, 1);
    return p->claimed ? NULL : "out of memory";
}

/* ---- import --------------------------------------------------------------------------------------------------- */

kiln_status kiln_keras_import_zip(const char *path, kiln_graph **out)
{
    *out = NULL;
    kiln_h5_quiet();
    kk_zip z;
    unsigned char *config = NULL, *meta = NULL, *weights = NULL;
    size_t config_len = 0, meta_len = 0, weights_len = 0;
    hid_t fapl = -1, file = -1, root = -1;
    kiln_status st = KILN_OK;
    int found;
    const char *why = zip_open(path, &z);
    if (why) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: not a readable .keras archive: %s", path, why);
        goto done;
    }
    if ((why = zip_read(&z, "config.json", &config, &config_len, &found)) || !found) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: .keras archive: config.json: %s", path,
                       why ? why : "missing (not a Keras 3 model archive)");
        goto done;
    }
    if ((why = zip_read(&z, "model.weights.h5", &weights, &weights_len, &found)) || !found) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: .keras archive: model.weights.h5: %s", path,
                       why ? why : "missing (a .keras file saved without weights?)");
        goto done;
    }
    zip_read(&z, "metadata.json", &meta, &meta_len, &found); /* optional: only the Keras version is read */
    kk_ctx c;
    memset(&c, 0, sizeof c);
    c.path = path;
    c.keras_major = 3;
    if (meta) {
        cJSON *m = cJSON_Parse((const char *)meta);
        const char *v = kk_str(m, "keras_version");
        if (v && v[0] >= '0' && v[0] <= '9') c.keras_major = atoi(v);
        cJSON_Delete(m);
    }
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 20, 0) < 0 || H5Pset_file_image(fapl, weights, weights_len) < 0) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: cannot open model.weights.h5 in memory (HDF5 core driver)", path);
        goto done;
    }
    free(weights); /* HDF5 holds its own copy of the image */
    weights = NULL;
    file = H5Fopen("model.weights.h5", H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: model.weights.h5 inside the archive is not valid HDF5 (corrupt?)", path);
        goto done;
    }
    root = H5Gopen2(file, "/", H5P_DEFAULT);
    c.k3_zip = 1;
    c.k3_root = root;
    st = kk_import_config(&c, (const char *)config, root, out);
done:
    if (root >= 0) H5Gclose(root);
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    zip_close(&z);
    free(config);
    free(meta);
    free(weights);
    return st;
}
