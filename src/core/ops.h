/* Op enum, attributes and activation kinds, generated from ops.def. */
#ifndef KILN_CORE_OPS_H
#define KILN_CORE_OPS_H

#include <stdint.h>

#define KILN_MAX_RANK 6
#define KILN_MAX_NODE_INPUTS 32

typedef enum {
#define KILN_OP(e, name, min_in, max_in, infer, ref) KILN_OP_##e,
#include "ops.def"
#undef KILN_OP
    KILN_OP_COUNT
} kiln_op;

/* Activation kinds usable standalone (KILN_OP_ACTIVATION) or fused into a producer's epilogue.
 * Frozen on disk: append only. Parameter meaning per kind:
 *   RELU:         y = x > threshold(gamma) ? min(x, max_value(beta)) : alpha * (x - gamma)   (Keras ReLU)
 *                 plain relu is alpha=0, beta=INFINITY, gamma=0; relu6 is beta=6; LeakyReLU is alpha=slope.
 *   HARD_SIGMOID: y = clip(alpha * x + beta, 0, 1)   (tf.keras 2: alpha .2 beta .5; Keras 3: 1/6, .5)
 *   ELU:          y = x > 0 ? x : alpha * (exp(x) - 1)
 *   GELU:         alpha = 0 exact (erf), alpha = 1 tanh approximation
 *   SELU, SOFTPLUS, SOFTSIGN, EXP: no parameters.
 *   SQRT, NEG, LOG, ABS, RECIPROCAL, FLOOR, CEIL: no parameters (ONNX unary math on run-time tensors).
 *   POW:          y = pow(x, alpha)   (ONNX Pow with a constant scalar exponent) */
#define KILN_ACT_LIST(X) \
    X(NONE, "linear")    \
    X(RELU, "relu")      \
    X(SIGMOID, "sigmoid") \
    X(HARD_SIGMOID, "hard_sigmoid") \
    X(SWISH, "swish")    \
    X(HARD_SWISH, "hard_swish") \
    X(TANH, "tanh")      \
    X(ELU, "elu")        \
    X(GELU, "gelu")      \
    X(SELU, "selu")      \
    X(SOFTPLUS, "softplus") \
    X(SOFTSIGN, "softsign") \
    X(EXP, "exponential") \
    X(SQRT, "sqrt")      \
    X(NEG, "neg")        \
    X(LOG, "log")        \
    X(ABS, "abs")        \
    X(RECIPROCAL, "reciprocal") \
    X(FLOOR, "floor")    \
    X(CEIL, "ceil")      \
    X(POW, "pow")

typedef enum {
#define X(e, s) KILN_ACT_##e,
    KILN_ACT_LIST(X)
#undef X
    KILN_ACT_COUNT
} kiln_act_kind;

typedef struct {
    int32_t kind; /* kiln_act_kind */
    float alpha, beta, gamma;
} kiln_act;

/* One flat attribute record shared by all ops; each op reads the fields its ops.def comment names.
 * Flat (not a union) so the engine file can store it field by field with no per-op code. */
typedef struct {
    int32_t kernel[2];    /* KH, KW (conv, pool) */
    int32_t stride[2];    /* SH, SW */
    int32_t dilation[2];  /* DH, DW */
    int32_t pads[4];      /* top, left, bottom, right (conv, pool) */
    int32_t groups;       /* conv: Cin / groups input channels per group */
    int32_t axis;         /* concat, softmax: non-negative axis including the batch axis */
    int32_t keepdims;     /* global pools */
    int32_t count_include_pad; /* avgpool */
    int32_t rank;         /* reshape: rank of shape[] (batch excluded); transpose/pad: rank of perm/pads */
    int64_t shape[KILN_MAX_RANK];
    int32_t perm[KILN_MAX_RANK];
    int32_t pads_begin[KILN_MAX_RANK]; /* pad op, every axis including batch */
    int32_t pads_end[KILN_MAX_RANK];
    float pad_value;
    float eps;            /* batchnorm */
    kiln_act act;         /* fused activation (conv, dense, add...) or the activation of ACTIVATION */
    kiln_act act2;        /* squeeze_excite: the gate activation (sigmoid, hard_sigmoid); unused by other ops */
} kiln_attrs;

/* Name of an op ("Conv2D"), or "?" when out of range. */
const char *kiln_op_name(kiln_op op);
int kiln_op_min_inputs(kiln_op op);
int kiln_op_max_inputs(kiln_op op);
/* Name of an activation kind ("relu"), or "?" when out of range. */
const char *kiln_act_name(int kind);
/* Defaults: stride/dilation 1, groups 1, act NONE with beta=INFINITY for relu use, eps 1e-3. */
void kiln_attrs_init(kiln_attrs *a);

#endif
