/* NumPy .npy files: read any small numeric array as float32, write float32 arrays.
 *
 * Format (numpy.lib.format): "\x93NUMPY", major, minor, header length (uint16 LE for v1.x, uint32 LE for v2.x/v3.x),
 * then an ASCII Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and
 * a final '\n', then the raw data in C order. kiln reads little-endian '<f4', '<f8', '<i8', '<i4', '|u1' (and '|i1')
 * and converts them to float; writes v1.0 '<f4' with the header padded to 64 bytes like NumPy does. */
#ifndef KILN_UTIL_NPY_H
#define KILN_UTIL_NPY_H

#include <stdint.h>

#include "kiln.h"
#include "../core/ops.h" /* KILN_MAX_RANK */

/* Read `path`. On success *data is a malloc'd float array of prod(dims) elements (one element for rank 0), owned by the
 * caller (free()); *rank and dims[0..rank) hold the shape (dims must have room for KILN_MAX_RANK entries).
 * On failure *data is NULL and kiln_last_error() names the file and the reason:
 *   KILN_ERR_IO (cannot open/read), KILN_ERR_FORMAT (not a .npy file, malformed header), KILN_ERR_VERSION (format
 *   version above 3), KILN_ERR_UNSUPPORTED (dtype, big-endian, fortran_order, rank above KILN_MAX_RANK),
 *   KILN_ERR_TRUNCATED (fewer data bytes than the shape needs, or extra bytes after them), KILN_ERR_NO_MEMORY. */
kiln_status kiln_npy_read(const char *path, float **data, int *rank, int64_t *dims);

/* Write data (prod(dims) floats, C order; rank 0..KILN_MAX_RANK) to `path` as a v1.0 '<f4' .npy file, replacing it.
 * data and dims are only read. Fails with KILN_ERR_INVALID_ARGUMENT or KILN_ERR_IO naming the file. */
kiln_status kiln_npy_write(const char *path, const float *data, int rank, const int64_t *dims);

#endif
