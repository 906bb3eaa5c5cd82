#include "keras_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kiln_strlist_free(kiln_strlist *l)
{
    if (!l) return;
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void kiln_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static int attr_exists(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0; }

int kiln_h5_has_attr(hid_t obj, const char *name)
{
    char chunk[256];
    snprintf(chunk, sizeof chunk, "%s0", name);
    return attr_exists(obj, name) || attr_exists(obj, chunk);
}

static int list_push(kiln_strlist *l, char *s)
{
    char **p = realloc(l->items, sizeof(char *) * (size_t)(l->n + 1));
    if (!p) {
        free(s);
        return -1;
    }
    l->items = p;
    l->items[l->n++] = s;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    /* Fixed-length strings are null- or space-padded; cut at the first NUL and drop trailing spaces. */
    size_t len = 0;
    while (len < n && s[len]) len++;
    while (len > 0 && s[len - 1] == ' ') len--;
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* Append every string of attribute `name` of obj to *out. */
static const char *read_attr_strings(hid_t obj, const char *name, kiln_strlist *out)
{
    const char *why = NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return "cannot open attribute";
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr), mem = -1;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (type < 0 || n < 0) {
        why = "cannot read attribute type";
        goto done;
    }
    if (H5Tget_class(type) != H5T_STRING) {
        if (n != 0) why = "attribute is not a string";
        goto done;
    }
    if (n == 0) goto done;
    mem = H5Tcopy(H5T_C_S1);
    if (H5Tis_variable_str(type) > 0) {
        char **buf = calloc((size_t)n, sizeof(char *));
        if (!buf) {
            why = "out of memory";
            goto done;
        }
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        if (H5Aread(attr, mem, buf) < 0) {
            free(buf);
            why = "cannot read attribute (corrupt file?)";
            goto done;
        }
        for (hssize_t i = 0; i < n && !why; i++) {
            const char *s = buf[i] ? buf[i] : "";
            char *d = dup_n(s, strlen(s));
            if (!d || list_push(out, d)) why = "out of memory";
        }
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
        free(buf);
    } else {
        size_t size = H5Tget_size(type);
        char *buf = size ? malloc(size * (size_t)n) : NULL;
        if (!buf) {
            why = size ? "out of memory" : "empty string type";
            goto done;
        }
        H5Tset_size(mem, size);
        H5Tset_cset(mem, H5Tget_cset(type));
        H5Tset_strpad(mem, H5Tget_strpad(type)); /* NULLTERM in memory would drop the last char of a NULLPAD string */
        if (H5Aread(attr, mem, buf) < 0) {
            free(buf);
            why = "cannot read attribute (corrupt file?)";
            goto done;
        }
        for (hssize_t i = 0; i < n && !why; i++) {
            char *d = dup_n(buf + (size_t)i * size, size);
            if (!d || list_push(out, d)) why = "out of memory";
        }
        free(buf);
    }
done:
    if (mem >= 0) H5Tclose(mem);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attr);
    return why;
}

const char *kiln_h5_read_string_list_attr(hid_t obj, const char *name, kiln_strlist *out)
{
    out->items = NULL;
    out->n = 0;
    const char *why = NULL;
    if (attr_exists(obj, name)) {
        why = read_attr_strings(obj, name, out);
    } else {
        /* Keras splits attributes above HDF5's 64 KiB header limit into name0, name1, ... */
        char chunk[256];
        for (int i = 0; !why; i++) {
            snprintf(chunk, sizeof chunk, "%s%d", name, i);
            if (!attr_exists(obj, chunk)) break;
            why = read_attr_strings(obj, chunk, out);
        }
    }
    if (why) kiln_strlist_free(out);
    return why;
}

const char *kiln_h5_read_string_attr(hid_t obj, const char *name, char **out)
{
    *out = NULL;
    if (!attr_exists(obj, name)) return "attribute missing";
    kiln_strlist l;
    const char *why = kiln_h5_read_string_list_attr(obj, name, &l);
    if (why) return why;
    if (l.n < 1) {
        kiln_strlist_free(&l);
        return "attribute is empty";
    }
    *out = l.items[0];
    l.items[0] = NULL;
    for (int i = 1; i < l.n; i++) free(l.items[i]);
    free(l.items);
    return NULL;
}

const char *kiln_h5_read_floats(hid_t loc, const char *path, int *rank, int64_t dims[KILN_MAX_RANK], float **data)
{
    *data = NULL;
    const char *why = NULL;
    if (H5Lexists(loc, path, H5P_DEFAULT) <= 0) return "weight dataset missing";
    hid_t ds = H5Dopen2(loc, path, H5P_DEFAULT);
    if (ds < 0) return "cannot open weight dataset";
    hid_t space = H5Dget_space(ds), type = H5Dget_type(ds);
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t hd[KILN_MAX_RANK];
    if (r < 0 || type < 0) {
        why = "cannot read weight dataset shape";
        goto done;
    }
    if (r > KILN_MAX_RANK) {
        why = "weight has too many dimensions";
        goto done;
    }
    H5T_class_t cls = H5Tget_class(type);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        why = "weight dataset is not numeric";
        goto done;
    }
    H5Sget_simple_extent_dims(space, hd, NULL);
    size_t n = 1;
    for (int i = 0; i < r; i++) {
        dims[i] = (int64_t)hd[i];
        n *= (size_t)hd[i];
    }
    *rank = r;
    float *buf = malloc(sizeof(float) * (n ? n : 1));
    if (!buf) {
        why = "out of memory reading weights";
        goto done;
    }
    if (n && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        why = "cannot read weight data (truncated or corrupt file?)";
        goto done;
    }
    *data = buf;
done:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Dclose(ds);
    return why;
}
