/* Windows BMP reader. libturbojpeg 2.1's tjLoadImage() rejects BITMAPV4/V5 headers (what PIL, GIMP and Windows write),
 * so BMP is read here. Supported: BITMAPCOREHEADER (12 bytes) and BITMAPINFOHEADER and its extensions (40..124 bytes);
 * 1, 4, 8-bit palette; 16, 24, 32-bit direct colour (BI_RGB or BI_BITFIELDS masks); bottom-up and top-down rows.
 * RLE and embedded JPEG/PNG compression are refused. Alpha is dropped. Every field is checked against the file size
 * before it is used. */
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "decode_internal.h"

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4, BI_PNG = 5, BI_ALPHABITFIELDS = 6 };

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A channel mask such as 0x00FF0000 or 0x7C00: where it starts, how many bits, and how to widen to 8 bits. */
typedef struct {
    uint32_t mask;
    int shift, bits;
} bmp_channel;

static int channel_init(bmp_channel *c, uint32_t mask)
{
    c->mask = mask;
    c->shift = 0;
    c->bits = 0;
    if (mask == 0) return 0;
    while (!((mask >> c->shift) & 1u)) c->shift++;
    uint32_t m = mask >> c->shift;
    while (m & 1u) {
        c->bits++;
        m >>= 1;
    }
    return m == 0 ? 0 : -1; /* the mask's bits must be contiguous */
}

static uint8_t channel_get(const bmp_channel *c, uint32_t px)
{
    if (c->bits == 0) return 0;
    uint32_t v = (px & c->mask) >> c->shift;
    if (c->bits >= 8) return (uint8_t)(v >> (c->bits - 8));
    uint32_t maxv = (1u << c->bits) - 1u;
    return (uint8_t)((v * 255u + maxv / 2u) / maxv); /* full range: 31 -> 255 */
}

kiln_status kiln_decode_bmp(const uint8_t *data, size_t size, const char *name, kiln_image *out)
{
    if (size < 14 + 12) return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated BMP file (%zu bytes)", name, size);
    uint32_t pixel_offset = rd32(data + 10);
    uint32_t hsize = rd32(data + 14);
    if (hsize != 12 && (hsize < 40 || hsize > 124))
        return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: unknown header size %u", name, (unsigned)hsize);
    if (size < 14 + (size_t)hsize) return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated BMP header", name);
    const uint8_t *hd = data + 14;

    int64_t width, height;
    uint32_t planes, bpp, compression = BI_RGB, colors_used = 0;
    int top_down = 0;
    if (hsize == 12) {
        width = (int64_t)rd16(hd + 4);
        height = (int64_t)rd16(hd + 6);
        planes = rd16(hd + 8);
        bpp = rd16(hd + 10);
    } else {
        width = (int32_t)rd32(hd + 4);
        height = (int32_t)rd32(hd + 8);
        planes = rd16(hd + 12);
        bpp = rd16(hd + 14);
        compression = rd32(hd + 16);
        colors_used = rd32(hd + 32);
    }
    if (height < 0) {
        top_down = 1;
        height = -height;
    }
    if (planes != 1) return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: %u planes", name, (unsigned)planes);
    if (compression == BI_RLE4 || compression == BI_RLE8)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: RLE-compressed BMP files are not supported", name);
    if (compression == BI_JPEG || compression == BI_PNG)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: BMP files embedding JPEG/PNG data are not supported", name);
    if (compression != BI_RGB && compression != BI_BITFIELDS && compression != BI_ALPHABITFIELDS)
        return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: unknown compression %u", name, (unsigned)compression);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: %u bits per pixel", name, (unsigned)bpp);
    if (compression != BI_RGB && bpp != 16 && bpp != 32)
        return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: bit-field masks with %u bits per pixel", name,
                         (unsigned)bpp);
    if (width <= 0 || height <= 0 || width > (1 << 20) || height > (1 << 20))
        return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: image size %lldx%lld", name, (long long)width,
                         (long long)height);

    /* Direct colour: masks from the header (V2+ headers hold them), after a 40-byte header, or the BI_RGB defaults. */
    bmp_channel ch[3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
    if (bpp == 16 || bpp == 32) {
        uint32_t m[3];
        if (compression == BI_RGB) {
            m[0] = bpp == 16 ? 0x7C00u : 0x00FF0000u;
            m[1] = bpp == 16 ? 0x03E0u : 0x0000FF00u;
            m[2] = bpp == 16 ? 0x001Fu : 0x000000FFu;
        } else {
            size_t at = hsize >= 52 ? 14 + 40 : 14 + (size_t)hsize;
            if (size < at + 12) return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated BMP colour masks", name);
            for (int i = 0; i < 3; i++) m[i] = rd32(data + at + 4 * (size_t)i);
        }
        for (int i = 0; i < 3; i++)
            if (channel_init(&ch[i], m[i]) != 0)
                return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: colour mask 0x%08x is not contiguous", name,
                                 (unsigned)m[i]);
    }

    /* Palette: right after the header (and the masks a 40-byte BI_BITFIELDS header is followed by). */
    uint8_t palette[256][3];
    uint32_t n_colors = 0;
    if (bpp <= 8) {
        uint32_t max_colors = 1u << bpp;
        n_colors = colors_used == 0 || colors_used > max_colors ? max_colors : colors_used;
        size_t entry = hsize == 12 ? 3 : 4;
        size_t at = 14 + (size_t)hsize;
        size_t avail = size > at ? (size - at) / entry : 0;
        if (pixel_offset > at && (pixel_offset - at) / entry < avail) avail = (pixel_offset - at) / entry;
        if (avail < n_colors) n_colors = (uint32_t)avail; /* short palettes exist in the wild; missing entries read black */
        if (n_colors == 0) return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: missing colour palette", name);
        memset(palette, 0, sizeof palette);
        for (uint32_t i = 0; i < n_colors; i++) {
            const uint8_t *e = data + at + i * entry; /* stored B, G, R */
            palette[i][0] = e[2];
            palette[i][1] = e[1];
            palette[i][2] = e[0];
        }
    }

    uint64_t stride = (((uint64_t)width * bpp + 31u) / 32u) * 4u;
    if (pixel_offset < 14 + hsize || pixel_offset > size)
        return kiln_fail(KILN_ERR_FORMAT, "%s: corrupt BMP file: pixel data offset %u outside the file", name,
                         (unsigned)pixel_offset);
    if ((uint64_t)(size - pixel_offset) < stride * (uint64_t)height)
        return kiln_fail(KILN_ERR_TRUNCATED, "%s: truncated BMP file: %llu bytes of pixels, %llu needed", name,
                         (unsigned long long)(size - pixel_offset), (unsigned long long)(stride * (uint64_t)height));

    kiln_status st = kiln_image_alloc(out, width, height, name);
    if (st != KILN_OK) return st;
    for (int64_t y = 0; y < height; y++) {
        const uint8_t *row = data + pixel_offset + stride * (uint64_t)(top_down ? y : height - 1 - y);
        uint8_t *dst = out->rgb + (size_t)y * (size_t)width * 3;
        for (int64_t x = 0; x < width; x++, dst += 3) {
            switch (bpp) {
            case 1: case 4: case 8: {
                uint32_t per_byte = 8u / bpp;
                uint32_t byte = row[x / per_byte];
                uint32_t shift = 8u - bpp * (uint32_t)(x % per_byte + 1);
                uint32_t idx = (byte >> shift) & ((1u << bpp) - 1u);
                memcpy(dst, palette[idx], 3); /* an index past a short palette reads the zeroed (black) entry */
                break;
            }
            case 16:
            case 32: {
                uint32_t px = bpp == 16 ? rd16(row + 2 * x) : rd32(row + 4 * x);
                for (int c = 0; c < 3; c++) dst[c] = channel_get(&ch[c], px);
                break;
            }
            default: /* 24: B, G, R */
                dst[0] = row[3 * x + 2];
                dst[1] = row[3 * x + 1];
                dst[2] = row[3 * x];
            }
        }
    }
    return KILN_OK;
}
