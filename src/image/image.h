/* Image input for classifiers: decode a photo (JPEG, PNG, BMP; detected from the content, not the extension) to 8-bit
 * RGB, resize it to a model's input size and apply a Keras preprocessing mode, producing NHWC float32.
 *
 * Decoding goes through libturbojpeg (JPEG) and libpng (PNG). BMP is read by a small reader here because
 * libturbojpeg 2.1's tjLoadImage() refuses the BITMAPV4/V5 headers that most BMP writers produce today.
 * Every failure returns a kiln_status with a message that names the file. */
#ifndef KILN_IMAGE_IMAGE_H
#define KILN_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/* A decoded image: rows top to bottom, pixels left to right, 3 bytes R, G, B per pixel. */
typedef struct {
    int width, height;
    uint8_t *rgb; /* owned; width * height * 3 bytes; free with kiln_image_free */
} kiln_image;

/* Largest image accepted (pixels); bigger files are refused rather than allocated. */
#define KILN_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* How the photo becomes the model's H x W.
 *   SQUASH  bilinear resize straight to H x W (aspect ratio not kept), like cv2.resize(INTER_LINEAR): half-pixel
 *           centres, coordinates clamped at the border, no antialiasing. This is the post's predict_image.py.
 *   CROP    scale so the image covers H x W keeping the aspect ratio (the short side becomes the input size; the long
 *           side is truncated to an integer as torchvision does), then take the central H x W window. */
typedef enum { KILN_RESIZE_SQUASH = 0, KILN_RESIZE_CROP = 1 } kiln_resize_mode;

/* Keras imagenet_utils.preprocess_input modes, applied to 0..255 RGB values.
 *   TF     x / 127.5 - 1                                (RGB)
 *   CAFFE  RGB -> BGR, then minus [103.939, 116.779, 123.68] (BGR order)
 *   TORCH  x / 255, then (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]   (RGB)
 *   RAW    x unchanged, 0..255 RGB (models that normalize inside)
 * For a 1-channel (gray) input the gray value is the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B; TF and RAW apply as
 * written, CAFFE and TORCH use the luma-weighted mean (and std) of their three channel constants. */
typedef enum {
    KILN_PREPROCESS_TF = 0,
    KILN_PREPROCESS_CAFFE = 1,
    KILN_PREPROCESS_TORCH = 2,
    KILN_PREPROCESS_RAW = 3
} kiln_preprocess_mode;

/* Read and decode an image file. On success *out holds a new image owned by the caller (kiln_image_free).
 * On failure *out is zeroed and the message names the file and the reason (unreadable, truncated, corrupt,
 * unsupported variant, unknown format). */
kiln_status kiln_image_load(const char *path, kiln_image *out);

/* Decode an image held in memory (data is only read). `name` is used in messages (e.g. the file name). */
kiln_status kiln_image_decode(const uint8_t *data, size_t size, const char *name, kiln_image *out);

/* Free the pixels of an image and zero it; NULL and zeroed images are allowed. */
void kiln_image_free(kiln_image *img);

/* Resize img to H x W (per `mode`) into dst: H * W * 3 floats, RGB, values 0..255 (not rounded to 8 bits).
 * dst is owned by the caller. */
kiln_status kiln_image_resize(const kiln_image *img, int H, int W, kiln_resize_mode mode, float *dst);

/* Apply a preprocessing mode in place to n pixels of `channels` (3 = RGB in, 1 = gray) interleaved floats 0..255.
 * For CAFFE with 3 channels the channel order is swapped to BGR. */
void kiln_preprocess(float *x, size_t n, int channels, kiln_preprocess_mode mode);

/* Everything a classifier needs: resize, convert to `channels` (3 = RGB, 1 = gray) and preprocess into dst,
 * one NHWC sample of H * W * channels floats owned by the caller. */
kiln_status kiln_image_to_tensor(const kiln_image *img, int H, int W, int channels, kiln_resize_mode resize,
                                 kiln_preprocess_mode preprocess, float *dst);

/* Names <-> modes for command lines ("squash", "crop"; "tf", "caffe", "torch", "raw").
 * The parsers return 0 on success and -1 for an unknown name. */
int kiln_resize_mode_parse(const char *name, kiln_resize_mode *out);
int kiln_preprocess_mode_parse(const char *name, kiln_preprocess_mode *out);
const char *kiln_resize_mode_name(kiln_resize_mode mode);
const char *kiln_preprocess_mode_name(kiln_preprocess_mode mode);

#endif
