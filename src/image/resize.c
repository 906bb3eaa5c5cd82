/* Bilinear resize of 8-bit RGB to float, the cv2.resize(INTER_LINEAR) formula:
 *   src = (dst + 0.5) * (in / out) - 0.5, clamped to [0, in - 1]; value = lerp of the two neighbours per axis.
 * No antialiasing (a big downscale reads only 2 x 2 source pixels per output pixel, as cv2 does). Arithmetic is in
 * float and not rounded back to 8 bits, so values differ from cv2's 11-bit fixed point by well under one level.
 * CROP is the same sampling over a virtual resized image of size (rh, rw) covering H x W, offset to its centre. */
#include <stdlib.h>

#include "../core/status.h"
#include "image.h"

/* For each output coordinate: the left source index and the weight of the right neighbour. */
static void axis_table(int in, int64_t resized, int64_t offset, int out, int *idx, float *frac)
{
    double scale = (double)in / (double)resized;
    for (int d = 0; d < out; d++) {
        double s = ((double)(d + offset) + 0.5) * scale - 0.5;
        if (s < 0) s = 0;
        if (s > in - 1) s = in - 1;
        int i = (int)s;
        if (i > in - 2) i = in > 1 ? in - 2 : 0; /* keep i + 1 inside; the weight then selects the last pixel */
        idx[d] = i;
        frac[d] = in > 1 ? (float)(s - i) : 0.0f;
    }
}

kiln_status kiln_image_resize(const kiln_image *img, int H, int W, kiln_resize_mode mode, float *dst)
{
    if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || !dst)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_image_resize: empty image or NULL destination");
    if (H <= 0 || W <= 0 || (int64_t)H * W > KILN_IMAGE_MAX_PIXELS)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_image_resize: invalid target size %dx%d", H, W);
    const int h = img->height, w = img->width;
    int64_t rh = H, rw = W, oy = 0, ox = 0;
    if (mode == KILN_RESIZE_CROP) {
        /* Scale so that one side matches and the other covers the target: compare h/H with w/W exactly. */
        if ((int64_t)h * W >= (int64_t)w * H) {
            rw = W;
            rh = (int64_t)h * W / w;
        } else {
            rh = H;
            rw = (int64_t)w * H / h;
        }
        if (rh < H) rh = H;
        if (rw < W) rw = W;
        oy = (int64_t)((double)(rh - H) / 2.0 + 0.5); /* torchvision CenterCrop: round((rh - H) / 2) */
        ox = (int64_t)((double)(rw - W) / 2.0 + 0.5);
    } else if (mode != KILN_RESIZE_SQUASH) {
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_image_resize: unknown resize mode %d", (int)mode);
    }

    int *yi = malloc(sizeof(int) * (size_t)H), *xi = malloc(sizeof(int) * (size_t)W);
    float *yf = malloc(sizeof(float) * (size_t)H), *xf = malloc(sizeof(float) * (size_t)W);
    if (!yi || !xi || !yf || !xf) {
        free(yi), free(xi), free(yf), free(xf);
        return kiln_fail(KILN_ERR_NO_MEMORY, "kiln_image_resize: out of memory");
    }
    axis_table(h, rh, oy, H, yi, yf);
    axis_table(w, rw, ox, W, xi, xf);

    const size_t row_bytes = (size_t)w * 3;
    for (int y = 0; y < H; y++) {
        const uint8_t *r0 = img->rgb + (size_t)yi[y] * row_bytes;
        const uint8_t *r1 = h > 1 ? r0 + row_bytes : r0;
        const float fy = yf[y];
        float *o = dst + (size_t)y * W * 3;
        for (int x = 0; x < W; x++) {
            const size_t a = (size_t)xi[x] * 3, b = w > 1 ? a + 3 : a;
            const float fx = xf[x];
            for (int c = 0; c < 3; c++) {
                float top = r0[a + c] + fx * (float)(r0[b + c] - r0[a + c]);
                float bot = r1[a + c] + fx * (float)(r1[b + c] - r1[a + c]);
                o[3 * x + c] = top + fy * (bot - top);
            }
        }
    }
    free(yi), free(xi), free(yf), free(xf);
    return KILN_OK;
}
