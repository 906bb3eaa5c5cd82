#!/usr/bin/env python3
"""Independent reference for kiln's image module (src/image): writes test images and the pixels / tensors kiln must
produce, computed here with NumPy, PIL and scikit-image -- never with kiln.

usage: image_reference.py OUTDIR
Writes OUTDIR/manifest.txt, read by tests/unit/test_image.c, one check per line:
  decode  IMAGE  EXPECTED.u8  W H  TOL          decoded RGB (H*W*3 bytes) within TOL levels
  tensor  IMAGE  EXPECTED.f32 H W C RESIZE PREPROCESS TOL   NHWC float32 within TOL
  fail    IMAGE  STATUS  WORD                  kiln_image_load fails with STATUS and a message containing WORD
"""
import io
import os
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image
from skimage.transform import resize as sk_resize

warnings.simplefilter("ignore")  # PIL's advice about palette transparency
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
manifest = []
rng = np.random.default_rng(1234)


def photo(h, w):
    """A smooth image with texture, so resizing errors show."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / 5 + y / 9), 128 + 90 * np.cos(y / 4), (x * 7 + y * 3) % 256], -1)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def expect_decode(name, data, rgb, tol=0):
    put(name, data)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    put(name + ".u8", rgb.tobytes())
    manifest.append(f"decode {name} {name}.u8 {rgb.shape[1]} {rgb.shape[0]} {tol}")


# ---- PNG: an independent minimal encoder (every colour type, 1..16 bits, Adam7) ----------------------------------

def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_pack_rows(samples, depth):
    """samples: (h, w, c) integer array -> filtered scanlines (filter 0, or 1 = Sub on odd rows to exercise filters)."""
    h, w, c = samples.shape
    rows = []
    for y in range(h):
        s = samples[y].reshape(-1)
        if depth == 16:
            raw = s.astype(">u2").tobytes()
        elif depth == 8:
            raw = s.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            padded = np.zeros(((len(s) + per - 1) // per) * per, np.uint8)
            padded[: len(s)] = s
            packed = np.zeros(len(padded) // per, np.uint8)
            for k in range(per):
                packed |= (padded[k::per] << (8 - depth * (k + 1))).astype(np.uint8)
            raw = packed.tobytes()
        bpp = max(1, c * depth // 8)
        if y % 2 == 1:  # Sub filter
            b = np.frombuffer(raw, np.uint8).astype(np.int32)
            f = b.copy()
            f[bpp:] = (b[bpp:] - b[:-bpp]) % 256
            rows.append(b"\x01" + f.astype(np.uint8).tobytes())
        else:
            rows.append(b"\x00" + raw)
    return b"".join(rows)


def png_encode(samples, color_type, depth, palette=None, interlace=False, trns=None):
    h, w, _ = samples.shape
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b""
        for x0, y0, dx, dy in passes:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += png_pack_rows(sub, depth)
    else:
        raw = png_pack_rows(samples, depth)
    body = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if palette is not None:
        body += png_chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        body += png_chunk(b"tRNS", trns)
    body += png_chunk(b"gAMA", struct.pack(">I", 100000))  # must be ignored (cv2 ignores gamma)
    return body + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


img = photo(23, 31)
expect_decode("rgb8.png", png_encode(img, 2, 8), img)
expect_decode("rgb8_adam7.png", png_encode(img, 2, 8, interlace=True), img)
img16 = rng.integers(0, 65536, (9, 13, 3))
expect_decode("rgb16.png", png_encode(img16, 2, 16), img16 >> 8)  # high byte, as cv2.imread
rgba = np.concatenate([img, rng.integers(0, 256, (23, 31, 1))], -1)
expect_decode("rgba8.png", png_encode(rgba, 6, 8), img)  # alpha dropped, not composited
g = rng.integers(0, 256, (17, 11, 1))
expect_decode("gray8.png", png_encode(g, 0, 8), np.repeat(g, 3, -1))
g2 = rng.integers(0, 4, (7, 9, 1))
expect_decode("gray2.png", png_encode(g2, 0, 2), np.repeat(g2 * 85, 3, -1))  # 2-bit gray scales to 0, 85, 170, 255
ga16 = rng.integers(0, 65536, (6, 5, 2))
expect_decode("grayalpha16_adam7.png", png_encode(ga16, 4, 16, interlace=True), np.repeat(ga16[..., :1] >> 8, 3, -1))
pal = rng.integers(0, 256, (16, 3))
idx = rng.integers(0, 16, (10, 21, 1))
expect_decode("pal4.png", png_encode(idx, 3, 4, palette=pal, trns=bytes(range(16))), pal[idx[..., 0]])
idx1 = rng.integers(0, 2, (5, 19, 1))
expect_decode("pal1.png", png_encode(idx1, 3, 1, palette=pal[:2]), pal[:2][idx1[..., 0]])
# The 8-bit encoder output must agree with PIL's decoder (a check on this script, not on kiln).
for n in ["rgb8.png", "rgb8_adam7.png", "rgba8.png", "pal4.png"]:
    ref = np.asarray(Image.open(os.path.join(out, n)).convert("RGB"))
    want = np.fromfile(os.path.join(out, n + ".u8"), np.uint8).reshape(ref.shape)
    assert np.array_equal(ref, want), n

# ---- BMP: PIL's writer (24-bit, 8-bit palette and gray, 1-bit, 32-bit) and hand-built headers ----------------------

def pil_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


img = photo(19, 27)  # odd width: row padding
expect_decode("rgb24.bmp", pil_bytes(Image.fromarray(img), "BMP"), img)
expect_decode("rgba32.bmp", pil_bytes(Image.fromarray(rgba.astype(np.uint8), "RGBA"), "BMP"), rgba[..., :3])
p_im = Image.fromarray(img).quantize(64)
expect_decode("pal8.bmp", pil_bytes(p_im, "BMP"), np.asarray(p_im.convert("RGB")))
l_im = Image.fromarray(img).convert("L")
expect_decode("gray8.bmp", pil_bytes(l_im, "BMP"), np.repeat(np.asarray(l_im)[..., None], 3, -1))
b_im = Image.fromarray(img).convert("1")
expect_decode("mono1.bmp", pil_bytes(b_im, "BMP"), np.repeat(np.asarray(b_im.convert("L"))[..., None], 3, -1))


def bmp_file(w, h, bpp, pixel_rows, header_size=40, compression=0, masks=None, palette=b"", top_down=False):
    """pixel_rows: stored rows (already in file order), each unpadded bytes."""
    stride = ((w * bpp + 31) // 32) * 4
    pix = b"".join(r + b"\0" * (stride - len(r)) for r in pixel_rows)
    if header_size == 12:
        dib = struct.pack("<IHHHH", 12, w, h, 1, bpp)
    else:
        dib = struct.pack("<IiiHHIIiiII", header_size, w, -h if top_down else h, 1, bpp, compression, len(pix),
                          2835, 2835, 0, 0)
        if header_size >= 52 and masks is not None:
            dib += struct.pack("<III", *masks[:3])
        dib += b"\0" * (header_size - len(dib))
    extra = struct.pack("<III", *masks[:3]) if (masks is not None and header_size == 40) else b""
    offset = 14 + len(dib) + len(extra) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pix), 0, 0, offset) + dib + extra + palette + pix


img = photo(7, 10)
rows = [img[y, :, ::-1].tobytes() for y in range(7)]
expect_decode("topdown24.bmp", bmp_file(10, 7, 24, rows, top_down=True), img)
expect_decode("core24.bmp", bmp_file(10, 7, 24, rows[::-1], header_size=12), img)
# V5 header, 32-bit with bit-field masks in the header (R in the low byte here, to prove the masks are used)
px32 = img[..., 0].astype(np.uint32) | img[..., 1].astype(np.uint32) << 8 | img[..., 2].astype(np.uint32) << 16
rows32 = [px32[y].astype("<u4").tobytes() for y in range(6, -1, -1)]
expect_decode("v5_bitfields32.bmp", bmp_file(10, 7, 32, rows32, 124, 3, (0xFF, 0xFF00, 0xFF0000)), img)
# 16-bit 5-6-5 with masks after a 40-byte header; 5/6-bit values widen to 8 bits as round(v * 255 / max)
r5, g6, b5 = (img.astype(np.int32)[..., c] >> s for c, s in [(0, 3), (1, 2), (2, 3)])
px16 = (r5.astype(np.uint32) << 11 | g6.astype(np.uint32) << 5 | b5).astype("<u2")
rows16 = [px16[y].tobytes() for y in range(6, -1, -1)]
want16 = np.stack([(r5 * 255 + 15) // 31, (g6 * 255 + 31) // 63, (b5 * 255 + 15) // 31], -1)
expect_decode("rgb565.bmp", bmp_file(10, 7, 16, rows16, 40, 3, (0xF800, 0x07E0, 0x001F)), want16)
# 4-bit palette, odd width
pal16 = rng.integers(0, 256, (16, 3))
idx4 = rng.integers(0, 16, (5, 9))
rows4 = []
for y in range(4, -1, -1):
    r = list(idx4[y]) + [0]
    rows4.append(bytes((r[i] << 4) | r[i + 1] for i in range(0, 10, 2)))
palette = b"".join(bytes([b, gg, r, 0]) for r, gg, b in pal16)
expect_decode("pal4.bmp", bmp_file(9, 5, 4, rows4, palette=palette), pal16[idx4])

# ---- JPEG: PIL (libjpeg) encodes and decodes; kiln's libturbojpeg decode must agree within 2 levels ---------------
img = photo(40, 56)
for name, kw in [("q95_444.jpg", dict(quality=95, subsampling=0)), ("q80_420.jpg", dict(quality=80, subsampling=2)),
                 ("progressive.jpg", dict(quality=90, progressive=True))]:
    data = pil_bytes(Image.fromarray(img), "JPEG", **kw)
    expect_decode(name, data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), tol=2)
gdata = pil_bytes(Image.fromarray(img).convert("L"), "JPEG", quality=90)
expect_decode("gray.jpg", gdata, np.asarray(Image.open(io.BytesIO(gdata)).convert("RGB")), tol=2)

sys.dont_write_bytecode = True  # keep the source tree clean
from cv2_linear import crop, preprocess, squash  # noqa: E402  (the NumPy reference)

src = photo(37, 53)
# The squash formula agrees with scikit-image's order-1 warp with edge clamping and no antialiasing (a second,
# separately written implementation of the same half-pixel mapping).
for H, W in [(24, 24), (61, 70)]:
    sk = sk_resize(src.astype(np.float64), (H, W), order=1, mode="edge", anti_aliasing=False, preserve_range=True)
    assert np.abs(sk - squash(src, H, W)).max() < 1e-6, (H, W)
expect_decode("src.png", png_encode(src, 2, 8), src)
cases = [(24, 24, 3, "squash", "raw"), (61, 70, 3, "squash", "tf"), (24, 24, 3, "crop", "raw"),
         (20, 30, 3, "crop", "caffe"), (40, 17, 3, "crop", "torch"), (16, 16, 1, "squash", "tf"),
         (16, 16, 1, "crop", "caffe"), (9, 9, 1, "squash", "torch"), (1, 1, 3, "squash", "raw")]
for H, W, C, rs, pp in cases:
    r = squash(src, H, W) if rs == "squash" else crop(src, H, W)
    t = preprocess(r, pp, C).astype(np.float32)
    name = f"src_{H}x{W}x{C}_{rs}_{pp}.f32"
    put(name, t.tobytes())
    tol = 1e-3 if pp == "raw" or pp == "caffe" else 1e-5
    manifest.append(f"tensor src.png {name} {H} {W} {C} {rs} {pp} {tol}")
# a one-pixel-wide image and a 1x1 image resize without reading outside them
thin = photo(9, 1)
expect_decode("thin.png", png_encode(thin, 2, 8), thin)
put("thin_5x4.f32", squash(thin, 5, 4).astype(np.float32).tobytes())
manifest.append("tensor thin.png thin_5x4.f32 5 4 3 squash raw 1e-3")

# ---- files that must be refused ---------------------------------------------------------------------------------
good_png = png_encode(photo(20, 20), 2, 8)
good_jpg = pil_bytes(Image.fromarray(photo(64, 64)), "JPEG", quality=90)
good_bmp = pil_bytes(Image.fromarray(photo(20, 20)), "BMP")
bad = {
    "trunc.png": (good_png[: len(good_png) // 2], "ERR_TRUNCATED", "truncated"),
    "trunc.jpg": (good_jpg[: len(good_jpg) // 2], "ERR_TRUNCATED", "truncated"),
    "trunc.bmp": (good_bmp[:-100], "ERR_TRUNCATED", "truncated"),
    "header_only.jpg": (good_jpg[:20], "ERR_FORMAT", "JPEG"),
    "text.png": (b"hello, I am not an image\n", "ERR_FORMAT", "unrecognized"),
    "empty.jpg": (b"", "ERR_FORMAT", "empty"),
    "rle8.bmp": (good_bmp[:30] + struct.pack("<I", 1) + good_bmp[34:], "ERR_UNSUPPORTED", "RLE"),
    "hugebmp.bmp": (good_bmp[:18] + struct.pack("<ii", 1 << 24, 1 << 24) + good_bmp[26:], "ERR_FORMAT", "size"),
}
crc_bad = bytearray(good_png)
crc_bad[len(crc_bad) - 30] ^= 0xFF  # inside IDAT: data and CRC disagree
bad["crc.png"] = (bytes(crc_bad), "ERR_FORMAT", "corrupt")
for name, (data, status, word) in bad.items():
    put(name, data)
    manifest.append(f"fail {name} {status} {word}")
manifest.append("fail does_not_exist.png ERR_IO does_not_exist.png")

with open(os.path.join(out, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
print(f"image_reference: {len(manifest)} checks written to {out}")
