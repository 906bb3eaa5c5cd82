/* Keras imagenet_utils.preprocess_input modes and the image -> NHWC tensor step. */
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "image.h"

static const float caffe_mean_bgr[3] = {103.939f, 116.779f, 123.68f};
static const float torch_mean[3] = {0.485f, 0.456f, 0.406f};
static const float torch_std[3] = {0.229f, 0.224f, 0.225f};
static const float luma[3] = {0.299f, 0.587f, 0.114f}; /* ITU-R 601, as PIL's convert('L') and cv2's RGB2GRAY */

void kiln_preprocess(float *x, size_t n, int channels, kiln_preprocess_mode mode)
{
    if (mode == KILN_PREPROCESS_RAW || !x) return;
    if (channels == 1) {
        float mean = 0, std = 0;
        if (mode == KILN_PREPROCESS_CAFFE)
            mean = luma[0] * caffe_mean_bgr[2] + luma[1] * caffe_mean_bgr[1] + luma[2] * caffe_mean_bgr[0];
        if (mode == KILN_PREPROCESS_TORCH) {
            for (int c = 0; c < 3; c++) mean += luma[c] * torch_mean[c], std += luma[c] * torch_std[c];
        }
        for (size_t i = 0; i < n; i++) {
            if (mode == KILN_PREPROCESS_TF) x[i] = x[i] / 127.5f - 1.0f;
            else if (mode == KILN_PREPROCESS_CAFFE) x[i] -= mean;
            else if (mode == KILN_PREPROCESS_TORCH) x[i] = (x[i] / 255.0f - mean) / std;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float *p = x + 3 * i;
        switch (mode) {
        case KILN_PREPROCESS_TF:
            for (int c = 0; c < 3; c++) p[c] = p[c] / 127.5f - 1.0f;
            break;
        case KILN_PREPROCESS_CAFFE: {
            float r = p[0];
            p[0] = p[2] - caffe_mean_bgr[0];
            p[1] = p[1] - caffe_mean_bgr[1];
            p[2] = r - caffe_mean_bgr[2];
            break;
        }
        case KILN_PREPROCESS_TORCH:
            for (int c = 0; c < 3; c++) p[c] = (p[c] / 255.0f - torch_mean[c]) / torch_std[c];
            break;
        default:
            break;
        }
    }
}

kiln_status kiln_image_to_tensor(const kiln_image *img, int H, int W, int channels, kiln_resize_mode resize,
                                 kiln_preprocess_mode preprocess, float *dst)
{
    if (channels != 1 && channels != 3)
        return kiln_fail(KILN_ERR_SHAPE, "an image becomes 1 (gray) or 3 (RGB) channels, not %d", channels);
    if (channels == 3) {
        kiln_status st = kiln_image_resize(img, H, W, resize, dst);
        if (st != KILN_OK) return st;
        kiln_preprocess(dst, (size_t)H * W, 3, preprocess);
        return KILN_OK;
    }
    if (H <= 0 || W <= 0 || (int64_t)H * W > KILN_IMAGE_MAX_PIXELS)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_image_to_tensor: invalid target size %dx%d", H, W);
    float *rgb = malloc(sizeof(float) * 3 * (size_t)H * W);
    if (!rgb) return kiln_fail(KILN_ERR_NO_MEMORY, "kiln_image_to_tensor: out of memory");
    kiln_status st = kiln_image_resize(img, H, W, resize, rgb);
    if (st == KILN_OK) {
        for (size_t i = 0; i < (size_t)H * W; i++)
            dst[i] = luma[0] * rgb[3 * i] + luma[1] * rgb[3 * i + 1] + luma[2] * rgb[3 * i + 2];
        kiln_preprocess(dst, (size_t)H * W, 1, preprocess);
    }
    free(rgb);
    return st;
}

static const char *const resize_names[] = {"squash", "crop"};
static const char *const preprocess_names[] = {"tf", "caffe", "torch", "raw"};

int kiln_resize_mode_parse(const char *name, kiln_resize_mode *out)
{
    for (int i = 0; name && i < 2; i++)
        if (strcmp(name, resize_names[i]) == 0) return *out = (kiln_resize_mode)i, 0;
    return -1;
}

int kiln_preprocess_mode_parse(const char *name, kiln_preprocess_mode *out)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, preprocess_names[i]) == 0) return *out = (kiln_preprocess_mode)i, 0;
    return -1;
}

const char *kiln_resize_mode_name(kiln_resize_mode mode)
{
    return (unsigned)mode < 2 ? resize_names[mode] : "?";
}

const char *kiln_preprocess_mode_name(kiln_preprocess_mode mode)
{
    return (unsigned)mode < 4 ? preprocess_names[mode] : "?";
}
