/* RESIZE parameters: how they sit in the flat attrs record (ops.def), in one place.
 *
 * The engine file stores kiln_attrs field by field, so RESIZE keeps its parameters in existing fields (no change to
 * the on-disk grammar). Zero-initialised fields (and kiln_attrs_init's defaults) give the original RESIZE of Keras
 * UpSampling2D: half_pixel coordinates, nearest = round half up (floor((o + 0.5) * in / out)), scale = out / in.
 *
 *   field                     parameter
 *   attrs.groups              interp: KILN_RESIZE_NEAREST 0, KILN_RESIZE_LINEAR 1, KILN_RESIZE_CUBIC 2
 *   attrs.shape[0], shape[1]  output H, W
 *   attrs.axis                coord: coordinate transformation (kiln_resize_coord)
 *   attrs.keepdims            nearest rounding (kiln_resize_round)
 *   attrs.count_include_pad   exclude_outside (cubic: taps outside the input get weight 0, the rest renormalised)
 *   attrs.pads_begin[0]       antialias (linear/cubic downscaling widens the filter by 1/scale)
 *   attrs.act2.alpha, .beta   scale of H, W used by the coordinate transformation; <= 0 or not finite: out / in
 *   attrs.eps                 cubic_coeff_a
 *   attrs.pad_value           extrapolation value (tf_crop_and_resize: samples whose source lies outside the input)
 * tf_crop_and_resize also takes a second, constant input roi[4] = start_h, start_w, end_h, end_w (fractions of the
 * input, ONNX's roi for the H and W axes). */
#ifndef KILN_CORE_RESIZE_H
#define KILN_CORE_RESIZE_H

#include <math.h>
#include <stdint.h>

#include "ops.h"

/* Most input cells one output cell reads along an axis (antialiased downscaling needs about 4 / scale). */
#define KILN_RESIZE_MAX_TAPS 64

enum { KILN_RESIZE_NEAREST = 0, KILN_RESIZE_LINEAR = 1, KILN_RESIZE_CUBIC = 2 };

/* Source coordinate x of output index o (ONNX Resize's coordinate_transformation_mode), in = input length,
 * out = output length, s = scale, ow = s * in (the unrounded output length):
 *   HALF_PIXEL            (o + 0.5) / s - 0.5
 *   HALF_PIXEL_SYMMETRIC  in/2 * (1 - out/ow) + (o + 0.5) / s - 0.5
 *   PYTORCH_HALF_PIXEL    ow > 1 ? (o + 0.5) / s - 0.5 : -0.5       (onnx reference; see kiln_resize_source)
 *   ALIGN_CORNERS         ow > 1 ? o * (in - 1) / (ow - 1) : 0
 *   ASYMMETRIC            o / s
 *   TF_HALF_PIXEL_FOR_NN  (o + 0.5) / s
 *   TF_CROP_AND_RESIZE    start * (in - 1) + (out > 1 ? o * (end - start) * (in - 1) / (out - 1)
 *                                                      : (end - start) * (in - 1) / 2)                        */
typedef enum {
    KILN_RESIZE_HALF_PIXEL = 0,
    KILN_RESIZE_HALF_PIXEL_SYMMETRIC,
    KILN_RESIZE_PYTORCH_HALF_PIXEL,
    KILN_RESIZE_ALIGN_CORNERS,
    KILN_RESIZE_ASYMMETRIC,
    KILN_RESIZE_TF_HALF_PIXEL_FOR_NN,
    KILN_RESIZE_TF_CROP_AND_RESIZE,
    KILN_RESIZE_COORD_COUNT
} kiln_resize_coord;

/* Nearest rounding of a source coordinate x (ONNX nearest_mode). An integral x is itself in every mode. */
typedef enum {
    KILN_RESIZE_ROUND_PREFER_CEIL = 0, /* floor(x + 0.5) */
    KILN_RESIZE_ROUND_PREFER_FLOOR,    /* ceil(x - 0.5) */
    KILN_RESIZE_FLOOR,
    KILN_RESIZE_CEIL,
    KILN_RESIZE_ROUND_COUNT
} kiln_resize_round;

typedef struct {
    int interp;          /* KILN_RESIZE_NEAREST / LINEAR / CUBIC */
    int coord;           /* kiln_resize_coord */
    int round;           /* kiln_resize_round */
    int exclude_outside; /* cubic */
    int antialias;       /* linear, cubic */
    int64_t out[2];      /* output H, W */
    float scale[2];      /* H, W; <= 0 or not finite: out / in */
    float cubic_a;       /* cubic_coeff_a, -0.75 in ONNX, -0.5 in TF */
    float extrapolation; /* tf_crop_and_resize */
} kiln_resize_params;

static inline void kiln_resize_params_store(kiln_attrs *a, const kiln_resize_params *p)
{
    a->groups = p->interp;
    a->shape[0] = p->out[0];
    a->shape[1] = p->out[1];
    a->axis = p->coord;
    a->keepdims = p->round;
    a->count_include_pad = p->exclude_outside;
    a->pads_begin[0] = p->antialias;
    a->act2.alpha = p->scale[0];
    a->act2.beta = p->scale[1];
    a->eps = p->cubic_a;
    a->pad_value = p->extrapolation;
}

static inline void kiln_resize_params_load(const kiln_attrs *a, kiln_resize_params *p)
{
    p->interp = a->groups;
    p->out[0] = a->shape[0];
    p->out[1] = a->shape[1];
    p->coord = a->axis;
    p->round = a->keepdims;
    p->exclude_outside = a->count_include_pad;
    p->antialias = a->pads_begin[0];
    p->scale[0] = a->act2.alpha;
    p->scale[1] = a->act2.beta;
    p->cubic_a = a->eps;
    p->extrapolation = a->pad_value;
}

/* Defaults of an ONNX Resize (half_pixel, round_prefer_floor, cubic_coeff_a -0.75, scales out / in). */
static inline void kiln_resize_params_init(kiln_resize_params *p)
{
    p->interp = KILN_RESIZE_NEAREST;
    p->coord = KILN_RESIZE_HALF_PIXEL;
    p->round = KILN_RESIZE_ROUND_PREFER_FLOOR;
    p->exclude_outside = 0;
    p->antialias = 0;
    p->out[0] = p->out[1] = 1;
    p->scale[0] = p->scale[1] = 0.0f;
    p->cubic_a = -0.75f;
    p->extrapolation = 0.0f;
}

/* The scale the coordinate transformation of an axis uses: the stored one, or out / in. */
static inline double kiln_resize_scale(const kiln_resize_params *p, int axis, int64_t in)
{
    const double s = p->scale[axis];
    return s > 0 && isfinite(s) ? s : (double)p->out[axis] / (double)in;
}

#endif
