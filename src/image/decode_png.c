/* PNG through libpng's classic API, so every variant maps to 8-bit RGB the way cv2.imread does it:
 * 16-bit samples keep their high byte, palette and gray expand to RGB, alpha and tRNS transparency are dropped
 * (not composited), gamma chunks are ignored. (The simplified png_image API would treat 16-bit data as linear light
 * and composite alpha, which is not what Keras/cv2 pipelines feed their models.) */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "decode_internal.h"

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    const char *name;
    char error[256]; /* libpng's message, kept for ours */
} png_source;

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
    png_source *src = png_get_io_ptr(png);
    if (n > src->size - src->pos) {
        snprintf(src->error, sizeof src->error, "file ends early");
        png_error(png, "truncated");
    }
    memcpy(dst, src->data + src->pos, n);
    src->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_source *src = png_get_error_ptr(png);
    if (src->error[0] == '\0') snprintf(src->error, sizeof src->error, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* benign (unknown chunks, bad gamma): the pixels are still right */
}

kiln_status kiln_decode_png(const uint8_t *data, size_t size, const char *name, kiln_image *out)
{
    png_source src = {data, size, 0, name, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: cannot create a PNG decoder", name);
    png_infop info = png_create_info_struct(png);
    /* Everything touched after setjmp and read after a longjmp is volatile or lives outside this frame. */
    png_bytep *volatile rows = NULL;
    volatile kiln_status st = KILN_OK;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return kiln_fail(KILN_ERR_NO_MEMORY, "%s: cannot create a PNG decoder", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        if (strcmp(src.error, "file ends early") == 0)
            st = kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated PNG file (file ends early)", name);
        else
            st = kiln_fail(KILN_ERR_FORMAT, "%s: corrupt PNG file: %s", name, src.error);
        goto done;
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_strip_alpha(png); /* also the alpha that palette/tRNS expansion creates */
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: PNG colour type %d, bit depth %d does not convert to RGB", name,
                       color, depth);
        goto done;
    }
    st = kiln_image_alloc(out, w, h, name);
    if (st != KILN_OK) goto done;
    rows = malloc(sizeof(png_bytep) * h);
    if (!rows) {
        st = kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", name);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = out->rgb + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
done:
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return st;
}
