/* Reading an image file and choosing the decoder from the first bytes (never from the extension). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/status.h"
#include "decode_internal.h"

/* Image files larger than this are refused before reading (a photo is a few MB; this only guards memory). */
#define KILN_IMAGE_MAX_FILE_BYTES ((long)1 << 30)

kiln_status kiln_image_alloc(kiln_image *out, int64_t width, int64_t height, const char *name)
{
    if (width <= 0 || height <= 0)
        return kiln_fail(KILN_ERR_FORMAT, "%s: invalid image size %lldx%lld", name, (long long)width,
                         (long long)height);
    if (width > KILN_IMAGE_MAX_PIXELS / height)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: image too large (%lldx%lld pixels; at most %lld)", name,
                         (long long)width, (long long)height, (long long)KILN_IMAGE_MAX_PIXELS);
    uint8_t *p = malloc((size_t)(width * height * 3));
    if (!p)
        return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory for a %lldx%lld image", name, (long long)width,
                         (long long)height);
    out->width = (int)width;
    out->height = (int)height;
    out->rgb = p;
    return KILN_OK;
}

void kiln_image_free(kiln_image *img)
{
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

kiln_status kiln_image_decode(const uint8_t *data, size_t size, const char *name, kiln_image *out)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_image_decode: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "(memory)";
    if (!data || size == 0) return kiln_fail(KILN_ERR_FORMAT, "%s: empty file, not an image", name);

    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    kiln_image img = {0};
    kiln_status st;
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        st = kiln_decode_jpeg(data, size, name, &img);
    else if (size >= 8 && memcmp(data, png_sig, 8) == 0)
        st = kiln_decode_png(data, size, name, &img);
    else if (size >= 2 && data[0] == 'B' && data[1] == 'M')
        st = kiln_decode_bmp(data, size, name, &img);
    else
        return kiln_fail(KILN_ERR_FORMAT, "%s: unrecognized image format (expected JPEG, PNG or BMP content)", name);
    if (st != KILN_OK) {
        free(img.rgb);
        return st;
    }
    *out = img;
    return KILN_OK;
}

kiln_status kiln_image_load(const char *path, kiln_image *out)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_image_load: path is NULL");

    FILE *f = fopen(path, "rb");
    if (!f) return kiln_fail(KILN_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return kiln_fail(KILN_ERR_IO, "%s: cannot read image: not a regular file", path);
    }
    long size = (long)sb.st_size;
    if (size > KILN_IMAGE_MAX_FILE_BYTES) {
        fclose(f);
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: image file too large (%ld bytes)", path, size);
    }
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    if (!buf) {
        fclose(f);
        return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory reading %ld bytes", path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error || got != (size_t)size) {
        free(buf);
        return kiln_fail(KILN_ERR_IO, "%s: read error", path);
    }
    kiln_status st = kiln_image_decode(buf, (size_t)size, path, out);
    free(buf);
    return st;
}
