/* Model import with the format detected from the file's content (never from its extension). */
#ifndef KILN_IMPORT_IMPORT_H
#define KILN_IMPORT_IMPORT_H

#include <stddef.h>

#include "../core/graph.h"

/* Import the model at path. On success *out is a new graph owned by the caller (kiln_graph_free) and `format`
 * (format_cap bytes, may be NULL) receives the detected format name, e.g. "keras-h5".
 * Missing/unreadable file: KILN_ERR_IO naming the path. Keras 3 .keras (zip), kiln engine files and unknown content
 * are refused with a message saying what the file is and what to do. */
kiln_status kiln_import_file(const char *path, kiln_graph **out /* caller owns */, char *format, size_t format_cap);

#endif
