/* HDF5 access for the Keras importer: string attributes (fixed- or variable-length, scalar or array, split into
 * name0, name1... chunks the way Keras stores long attributes) and float32 datasets.
 *
 * Helpers return NULL on success or a static reason ("attribute is not a string"); the caller names the file and
 * the layer in the final message. HDF5's own error printing must be off (kiln_h5_quiet) before any call. */
#ifndef KILN_IMPORT_KERAS_H5_H
#define KILN_IMPORT_KERAS_H5_H

#include <hdf5.h>
#include <stdint.h>

#include "../../core/ops.h"

typedef struct {
    char **items; /* owned, each owned */
    int n;
} kiln_strlist;

void kiln_strlist_free(kiln_strlist *l);

/* Silence HDF5's automatic error stack printing (library code never prints). */
void kiln_h5_quiet(void);

/* 1 when obj has attribute `name` (or its chunked form name0), else 0. */
int kiln_h5_has_attr(hid_t obj, const char *name);
/* Read a string attribute (scalar, or the first element of a 1-element array) into *out (malloc'd, caller owns). */
const char *kiln_h5_read_string_attr(hid_t obj, const char *name, char **out);
/* Read a string-array attribute into *out (caller owns; kiln_strlist_free). A missing attribute or an empty
 * non-string array (Keras writes an empty float array for "no weights") gives an empty list. */
const char *kiln_h5_read_string_list_attr(hid_t obj, const char *name, kiln_strlist *out);
/* Read the dataset at `path` (relative to loc) as float32. *data is malloc'd (caller owns). */
const char *kiln_h5_read_floats(hid_t loc, const char *path, int *rank, int64_t dims[KILN_MAX_RANK], float **data);

#endif
