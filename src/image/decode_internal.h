/* One decoder per format, called by kiln_image_decode() after it has recognised the content.
 * Each takes the whole file in memory (only read), the name for messages, and fills *out (owned by the caller)
 * or returns a failure; on failure out->rgb may hold a buffer the caller frees (kiln_image_decode does). */
#ifndef KILN_IMAGE_DECODE_INTERNAL_H
#define KILN_IMAGE_DECODE_INTERNAL_H

#include "image.h"

kiln_status kiln_decode_jpeg(const uint8_t *data, size_t size, const char *name, kiln_image *out);
kiln_status kiln_decode_png(const uint8_t *data, size_t size, const char *name, kiln_image *out);
kiln_status kiln_decode_bmp(const uint8_t *data, size_t size, const char *name, kiln_image *out);

/* Allocate out->rgb for width x height after checking the size limits; message names the file. */
kiln_status kiln_image_alloc(kiln_image *out, int64_t width, int64_t height, const char *name);

#endif
