/* One table mapping Keras class names to converters. A converter reads the layer's config, fetches its weights
 * (keras_weights.c) and adds the graph node(s). The node that produces the layer's output is named exactly like the
 * layer (so fused names read `conv2d_3 + batch_normalization_3`); helper nodes get "<layer>/<role>". */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../../core/act.h"
#include "keras_internal.h"

kiln_status kk_add(kk_ctx *c, const kk_layer *L, kiln_op op, const char *name, const int *in, int n_in,
                   const kiln_attrs *a, int *out)
{
    int before = kiln_diag_count();
    *out = kiln_graph_add_node(c->g, op, name, in, n_in, a);
    if (*out >= 0) return KILN_OK;
    char why[1024];
    snprintf(why, sizeof why, "%s", kiln_diag_count() > before ? kiln_last_error() : "cannot add node");
    /* The shape checker already names the node; keep only its last line. */
    const char *last = strrchr(why, '\n');
    return kiln_fail(KILN_ERR_SHAPE, "%s: layer '%s' (%s): %s", c->path, L->name, L->class_name,
                     last ? last + 1 : why);
}

static const kiln_value *V(const kk_ctx *c, int id) { return &c->g->values[id]; }

static kiln_status bad_config(const kk_ctx *c, const kk_layer *L, const char *why)
{
    return kiln_fail(KILN_ERR_FORMAT, "%s: layer '%s' (%s): %s", c->path, L->name, L->class_name, why);
}

static kiln_status unsupported(const kk_ctx *c, const kk_layer *L, const char *why)
{
    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: unsupported layers: '%s' (%s: %s)", c->path, L->name, L->class_name,
                     why);
}

static kiln_status need_inputs(const kk_ctx *c, const kk_layer *L, int n_in, int lo, int hi)
{
    if (n_in >= lo && n_in <= hi) return KILN_OK;
    char why[96];
    snprintf(why, sizeof why, "takes %d to %d inputs, the model gives it %d", lo, hi, n_in);
    return bad_config(c, L, why);
}

static char *role(const kk_layer *L, const char *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", L->node_name, r);
    return buf;
}

/* Add the main node and, for a softmax activation, a SOFTMAX node after it (softmax is not an elementwise epilogue). */
static kiln_status add_with_activation(kk_ctx *c, const kk_layer *L, kiln_op op, const char *role_name,
                                       const int *in, int n_in, kiln_attrs *a, int *out)
{
    kiln_act act;
    int softmax;
    const char *why = kk_parse_activation(c, cJSON_GetObjectItemCaseSensitive(L->cfg, "activation"), &act, &softmax);
    if (why) return unsupported(c, L, why);
    a->act = act;
    if (!softmax) return kk_add(c, L, op, L->node_name, in, n_in, a, out);
    char buf[320];
    int mid;
    kiln_status st = kk_add(c, L, op, role(L, role_name, buf, sizeof buf), in, n_in, a, &mid);
    if (st) return st;
    kiln_attrs s;
    kiln_attrs_init(&s);
    s.axis = V(c, mid)->rank - 1;
    return kk_add(c, L, KILN_OP_SOFTMAX, L->node_name, &mid, 1, &s, out);
}

/* TF 'same' padding: total = max((ceil(in/s) - 1) * s + (k - 1) * d + 1 - in, 0), the extra cell at the end. */
static void same_pads(int64_t in, int k, int s, int d, int *begin, int *end)
{
    int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + (int64_t)(k - 1) * d + 1 - in;
    if (total < 0) total = 0;
    *begin = (int)(total / 2);
    *end = (int)(total - total / 2);
}

/* kernel_size / strides / dilation_rate / padding of a conv or pool into attrs (pads need the input shape). */
static kiln_status spatial_attrs(kk_ctx *c, const kk_layer *L, const kiln_value *x, const char *ksize_key,
                                 const char *stride_key, int stride_dflt_from_kernel, kiln_attrs *a)
{
    if (x->rank != 4) return bad_config(c, L, "expects a 4-D NHWC input");
    if (kk_ints(L->cfg, ksize_key, 2, 1, a->kernel)) return bad_config(c, L, "missing or malformed kernel/pool size");
    int r = kk_ints(L->cfg, stride_key, 2, 1, a->stride);
    if (r < 0) return bad_config(c, L, "malformed strides");
    if (r == 1 && stride_dflt_from_kernel) {
        a->stride[0] = a->kernel[0];
        a->stride[1] = a->kernel[1];
    }
    if (kk_ints(L->cfg, "dilation_rate", 2, 1, a->dilation) < 0) return bad_config(c, L, "malformed dilation_rate");
    const char *pad = kk_str(L->cfg, "padding");
    if (!pad || !strcasecmp(pad, "valid")) return KILN_OK;
    if (strcasecmp(pad, "same")) return unsupported(c, L, "padding is neither 'same' nor 'valid'");
    for (int i = 0; i < 2; i++)
        same_pads(x->dims[1 + i], a->kernel[i], a->stride[i], a->dilation[i], &a->pads[i], &a->pads[2 + i]);
    return KILN_OK;
}

/* ---- layers ---------------------------------------------------------------------------------------------------- */

/* Loads the layer's [n_out] "bias" weight into *slot and sets *n_ins to 3 when use_bias is on (the Keras default);
 * leaves both untouched otherwise. */
static kiln_status optional_bias(kk_ctx *c, const kk_layer *L, int64_t n_out, int *slot, int *n_ins)
{
    if (!kk_bool(L->cfg, "use_bias", 1)) return KILN_OK;
    int64_t bd[1] = { n_out };
    kiln_status st = kk_weight(c, L, "bias", NULL, 1, 1, bd, NULL, slot);
    if (st) return st;
    *n_ins = 3;
    return KILN_OK;
}

static kiln_status conv_identity(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    return kk_add(c, L, KILN_OP_IDENTITY, L->node_name, in, 1, NULL, out);
}

static kiln_status conv_conv2d(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    kiln_attrs a;
    kiln_attrs_init(&a);
    if ((st = spatial_attrs(c, L, x, "kernel_size", "strides", 0, &a))) return st;
    double filters;
    if (!kk_num(L->cfg, "filters", 0, &filters) || filters < 1) return bad_config(c, L, "missing filters");
    double groups;
    kk_num(L->cfg, "groups", 1, &groups);
    a.groups = (int)groups;
    if (a.groups < 1 || x->dims[3] % a.groups) return bad_config(c, L, "input channels not divisible by groups");
    int ins[3] = { in[0], -1, -1 };
    int64_t kd[4] = { a.kernel[0], a.kernel[1], x->dims[3] / a.groups, (int64_t)filters };
    if ((st = kk_weight(c, L, "kernel", NULL, 1, 4, kd, NULL, &ins[1]))) return st;
    int n = 2;
    if ((st = optional_bias(c, L, (int64_t)filters, &ins[2], &n))) return st;
    return add_with_activation(c, L, KILN_OP_CONV2D, "conv", ins, n, &a, out);
}

static kiln_status conv_depthwise(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    kiln_attrs a;
    kiln_attrs_init(&a);
    if ((st = spatial_attrs(c, L, x, "kernel_size", "strides", 0, &a))) return st;
    double mult;
    kk_num(L->cfg, "depth_multiplier", 1, &mult);
    int64_t cin = x->dims[3], m = (int64_t)mult;
    if (m < 1) return bad_config(c, L, "depth_multiplier below 1");
    a.groups = (int)cin;
    /* Keras [KH,KW,Cin,m] is, in row-major order, the IR's grouped [KH,KW,1,Cin*m] (output channel c*m+j). */
    int ins[3] = { in[0], -1, -1 };
    int64_t kd[4] = { a.kernel[0], a.kernel[1], cin, m }, as[4] = { a.kernel[0], a.kernel[1], 1, cin * m };
    if ((st = kk_weight(c, L, "depthwise_kernel", "kernel", 1, 4, kd, as, &ins[1]))) return st;
    int n = 2;
    if ((st = optional_bias(c, L, cin * m, &ins[2], &n))) return st;
    return add_with_activation(c, L, KILN_OP_CONV2D, "depthwise", ins, n, &a, out);
}

static kiln_status conv_separable(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    kiln_attrs a;
    kiln_attrs_init(&a);
    if ((st = spatial_attrs(c, L, x, "kernel_size", "strides", 0, &a))) return st;
    double mult, filters;
    kk_num(L->cfg, "depth_multiplier", 1, &mult);
    if (!kk_num(L->cfg, "filters", 0, &filters) || filters < 1) return bad_config(c, L, "missing filters");
    int64_t cin = x->dims[3], m = (int64_t)mult, f = (int64_t)filters;
    if (m < 1) return bad_config(c, L, "depth_multiplier below 1");
    a.groups = (int)cin;
    int dw[2] = { in[0], -1 };
    int64_t kd[4] = { a.kernel[0], a.kernel[1], cin, m }, as[4] = { a.kernel[0], a.kernel[1], 1, cin * m };
    if ((st = kk_weight(c, L, "depthwise_kernel", NULL, 1, 4, kd, as, &dw[1]))) return st;
    char buf[320];
    int mid;
    if ((st = kk_add(c, L, KILN_OP_CONV2D, role(L, "depthwise", buf, sizeof buf), dw, 2, &a, &mid))) return st;
    kiln_attrs p;
    kiln_attrs_init(&p);
    int pw[3] = { mid, -1, -1 };
    int64_t pd[4] = { 1, 1, cin * m, f };
    if ((st = kk_weight(c, L, "pointwise_kernel", NULL, 1, 4, pd, NULL, &pw[1]))) return st;
    int n = 2;
    if ((st = optional_bias(c, L, f, &pw[2], &n))) return st;
    return add_with_activation(c, L, KILN_OP_CONV2D, "pointwise", pw, n, &p, out);
}

static kiln_status conv_dense(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    double units;
    if (!kk_num(L->cfg, "units", 0, &units) || units < 1) return bad_config(c, L, "missing units");
    kiln_attrs a;
    kiln_attrs_init(&a);
    int ins[3] = { in[0], -1, -1 };
    int64_t kd[2] = { x->dims[x->rank - 1], (int64_t)units };
    if ((st = kk_weight(c, L, "kernel", NULL, 1, 2, kd, NULL, &ins[1]))) return st;
    int n = 2;
    if ((st = optional_bias(c, L, (int64_t)units, &ins[2], &n))) return st;
    return add_with_activation(c, L, KILN_OP_DENSE, "dense", ins, n, &a, out);
}

/* Normalized axis from config key (int or one-element list); negative counts from the end. -1 on error. */
static int config_axis(const kk_layer *L, const char *key, int dflt, int rank)
{
    int axis;
    if (kk_ints(L->cfg, key, 1, dflt, &axis) < 0) return -1;
    if (axis < 0) axis += rank;
    return axis >= 0 && axis < rank ? axis : -1;
}

static kiln_status conv_batchnorm(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    int axis = L->nhwc_wrapped ? x->rank - 1 : config_axis(L, "axis", -1, x->rank);
    if (axis != x->rank - 1) return unsupported(c, L, "normalizes an axis other than the last or, on 4-D, the first");
    int64_t ch = x->dims[x->rank - 1];
    int64_t d[1] = { ch };
    kiln_attrs a;
    kiln_attrs_init(&a);
    double eps;
    kk_num(L->cfg, "epsilon", 1e-3, &eps);
    a.eps = (float)eps;
    int ins[5] = { in[0], -1, -1, -1, -1 };
    if (kk_bool(L->cfg, "scale", 1)) st = kk_weight(c, L, "gamma", NULL, 1, 1, d, NULL, &ins[1]);
    else st = kk_fill(c, L, "gamma", ch, 1.0f, &ins[1]);
    if (st) return st;
    if (kk_bool(L->cfg, "center", 1)) st = kk_weight(c, L, "beta", NULL, 1, 1, d, NULL, &ins[2]);
    else st = kk_fill(c, L, "beta", ch, 0.0f, &ins[2]);
    if (st) return st;
    if ((st = kk_weight(c, L, "moving_mean", NULL, 1, 1, d, NULL, &ins[3]))) return st;
    if ((st = kk_weight(c, L, "moving_variance", NULL, 1, 1, d, NULL, &ins[4]))) return st;
    return kk_add(c, L, KILN_OP_BATCHNORM, L->node_name, ins, 5, &a, out);
}

static kiln_status conv_activation(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    int softmax;
    const char *why = kk_parse_activation(c, cJSON_GetObjectItemCaseSensitive(L->cfg, "activation"), &a.act, &softmax);
    if (why) return unsupported(c, L, why);
    if (softmax) {
        a.axis = V(c, in[0])->rank - 1;
        return kk_add(c, L, KILN_OP_SOFTMAX, L->node_name, in, 1, &a, out);
    }
    kiln_op op = a.act.kind == KILN_ACT_NONE ? KILN_OP_IDENTITY : KILN_OP_ACTIVATION;
    return kk_add(c, L, op, L->node_name, in, 1, &a, out);
}

static kiln_status conv_relu(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    double maxv, slope, thr;
    kk_num(L->cfg, "max_value", INFINITY, &maxv);
    kk_num(L->cfg, "negative_slope", 0.0, &slope);
    kk_num(L->cfg, "threshold", 0.0, &thr);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = kiln_act_make(KILN_ACT_RELU, (float)slope, (float)maxv, (float)thr);
    return kk_add(c, L, KILN_OP_ACTIVATION, L->node_name, in, 1, &a, out);
}

static kiln_status conv_leaky_relu(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    double slope;
    if (!kk_num(L->cfg, "negative_slope", 0.3, &slope)) kk_num(L->cfg, "alpha", 0.3, &slope);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = kiln_act_make(KILN_ACT_RELU, (float)slope, INFINITY, 0.0f);
    return kk_add(c, L, KILN_OP_ACTIVATION, L->node_name, in, 1, &a, out);
}

static kiln_status conv_elu(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    double alpha;
    kk_num(L->cfg, "alpha", 1.0, &alpha);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = kiln_act_make(KILN_ACT_ELU, (float)alpha, INFINITY, 0.0f);
    return kk_add(c, L, KILN_OP_ACTIVATION, L->node_name, in, 1, &a, out);
}

static kiln_status conv_softmax(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.axis = config_axis(L, "axis", -1, V(c, in[0])->rank);
    if (a.axis < 1) return unsupported(c, L, "softmax axis is the batch axis or out of range");
    return kk_add(c, L, KILN_OP_SOFTMAX, L->node_name, in, 1, &a, out);
}

static kiln_status pool(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out, kiln_op op)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    if ((st = spatial_attrs(c, L, V(c, in[0]), "pool_size", "strides", 1, &a))) return st;
    a.dilation[0] = a.dilation[1] = 1;
    a.count_include_pad = 0; /* Keras 'same' average pooling divides by the cells inside the input */
    return kk_add(c, L, op, L->node_name, in, 1, &a, out);
}
static kiln_status conv_maxpool(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return pool(c, L, in, n_in, out, KILN_OP_MAXPOOL);
}
static kiln_status conv_avgpool(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return pool(c, L, in, n_in, out, KILN_OP_AVGPOOL);
}

static kiln_status global_pool(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out, kiln_op op)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.keepdims = kk_bool(L->cfg, "keepdims", 0);
    return kk_add(c, L, op, L->node_name, in, 1, &a, out);
}
static kiln_status conv_gap(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return global_pool(c, L, in, n_in, out, KILN_OP_GLOBAL_AVGPOOL);
}
static kiln_status conv_gmp(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return global_pool(c, L, in, n_in, out, KILN_OP_GLOBAL_MAXPOOL);
}

static kiln_status conv_zero_padding(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    if (V(c, in[0])->rank != 4) return bad_config(c, L, "expects a 4-D NHWC input");
    /* padding: int, (sym_h, sym_w) or ((top, bottom), (left, right)) */
    int p[4] = { 1, 1, 1, 1 }; /* top, bottom, left, right */
    const cJSON *v = kk_unwrap(cJSON_GetObjectItemCaseSensitive(L->cfg, "padding"));
    const cJSON *l = kk_list(v);
    if (cJSON_IsNumber(v)) {
        for (int i = 0; i < 4; i++) p[i] = (int)v->valuedouble;
    } else if (l && cJSON_GetArraySize(l) == 2) {
        for (int i = 0; i < 2; i++) {
            const cJSON *e = kk_unwrap(cJSON_GetArrayItem(l, i));
            const cJSON *el = kk_list(e);
            if (cJSON_IsNumber(e)) {
                p[2 * i] = p[2 * i + 1] = (int)e->valuedouble;
            } else if (el && cJSON_GetArraySize(el) == 2 && cJSON_IsNumber(kk_unwrap(cJSON_GetArrayItem(el, 0))) &&
                       cJSON_IsNumber(kk_unwrap(cJSON_GetArrayItem(el, 1)))) {
                p[2 * i] = (int)kk_unwrap(cJSON_GetArrayItem(el, 0))->valuedouble;
                p[2 * i + 1] = (int)kk_unwrap(cJSON_GetArrayItem(el, 1))->valuedouble;
            } else {
                return bad_config(c, L, "malformed padding");
            }
        }
    } else if (v) {
        return bad_config(c, L, "malformed padding");
    }
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 4;
    a.pads_begin[1] = p[0];
    a.pads_end[1] = p[1];
    a.pads_begin[2] = p[2];
    a.pads_end[2] = p[3];
    a.pad_value = 0.0f;
    return kk_add(c, L, KILN_OP_PAD, L->node_name, in, 1, &a, out);
}

static kiln_status conv_concat(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, KILN_MAX_NODE_INPUTS);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.axis = config_axis(L, "axis", -1, V(c, in[0])->rank);
    if (a.axis < 1) return unsupported(c, L, "concatenation along the batch axis or out of range");
    return kk_add(c, L, KILN_OP_CONCAT, L->node_name, in, n_in, &a, out);
}

/* Keras 3 operators on KerasTensors (x + 3.0, x * (1/6): MobileNetV3's hard-swish) are serialized as ops named
 * like the merge layers (Add, Multiply...) whose args hold the number. Finds the first number in args; *first = 1
 * when it precedes the tensor (3.0 - x). */
static int const_arg(const cJSON *args, double *v, int *first)
{
    const cJSON *e;
    int seen_tensor = 0;
    cJSON_ArrayForEach(e, args)
    {
        const cJSON *u = kk_unwrap(e);
        if (cJSON_IsNumber(u)) {
            *v = u->valuedouble;
            *first = !seen_tensor;
            return 1;
        }
        seen_tensor = 1;
    }
    return 0;
}

static kiln_status scalar_op(kk_ctx *c, const kk_layer *L, kiln_op op, const char *kind, const char *name, int x,
                             float v, int *out);

/* One tensor and one number: y = x op c (or c op x). */
static kiln_status const_binary(kk_ctx *c, const kk_layer *L, const int *in, int *out, kiln_op op)
{
    double v;
    int first;
    if (!const_arg(L->args, &v, &first)) return bad_config(c, L, "takes 2 tensors or a tensor and a number");
    if (!first || op == KILN_OP_ADD || op == KILN_OP_MUL || op == KILN_OP_MAX || op == KILN_OP_MIN)
        return scalar_op(c, L, op, "operand", L->node_name, in[0], (float)v, out);
    int k;
    kiln_status st = kk_fill(c, L, "operand", 1, (float)v, &k);
    if (st) return st;
    int pair[2] = { k, in[0] };
    return kk_add(c, L, op, L->node_name, pair, 2, NULL, out);
}

/* n-ary elementwise layer as a chain of binary nodes; the last one carries the layer name. */
static kiln_status chain(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out, kiln_op op,
                         const char *final_name)
{
    if (n_in == 1 && L->args && final_name) return const_binary(c, L, in, out, op);
    kiln_status st = need_inputs(c, L, n_in, 2, 1 << 20);
    if (st) return st;
    int acc = in[0];
    for (int i = 1; i < n_in; i++) {
        char buf[320];
        const char *name = final_name;
        if (i < n_in - 1 || !final_name) {
            snprintf(buf, sizeof buf, "%s/%s%d", L->node_name, kiln_op_name(op), i);
            name = buf;
        }
        int pair[2] = { acc, in[i] };
        if ((st = kk_add(c, L, op, name, pair, 2, NULL, &acc))) return st;
    }
    *out = acc;
    return KILN_OK;
}
static kiln_status conv_add(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return chain(c, L, in, n_in, out, KILN_OP_ADD, L->node_name);
}
static kiln_status conv_multiply(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return chain(c, L, in, n_in, out, KILN_OP_MUL, L->node_name);
}
static kiln_status conv_maximum(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return chain(c, L, in, n_in, out, KILN_OP_MAX, L->node_name);
}
static kiln_status conv_minimum(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    return chain(c, L, in, n_in, out, KILN_OP_MIN, L->node_name);
}
static kiln_status conv_subtract(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    if (n_in == 1 && L->args) return const_binary(c, L, in, out, KILN_OP_SUB);
    kiln_status st = need_inputs(c, L, n_in, 2, 2);
    if (st) return st;
    return kk_add(c, L, KILN_OP_SUB, L->node_name, in, 2, NULL, out);
}
/* Keras 3 ops Divide / TrueDivide (x / y, x / 6.0). */
static kiln_status conv_divide(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    if (n_in == 1 && L->args) return const_binary(c, L, in, out, KILN_OP_DIV);
    kiln_status st = need_inputs(c, L, n_in, 2, 2);
    if (st) return st;
    return kk_add(c, L, KILN_OP_DIV, L->node_name, in, 2, NULL, out);
}
static kiln_status conv_average(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    int sum, scale;
    kiln_status st = chain(c, L, in, n_in, &sum, KILN_OP_ADD, NULL);
    if (st) return st;
    if ((st = kk_fill(c, L, "scale", 1, 1.0f / (float)n_in, &scale))) return st;
    int pair[2] = { sum, scale };
    return kk_add(c, L, KILN_OP_MUL, L->node_name, pair, 2, NULL, out);
}

static kiln_status conv_reshape(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const cJSON *t = kk_list(cJSON_GetObjectItemCaseSensitive(L->cfg, "target_shape"));
    int r = t ? cJSON_GetArraySize(t) : -1;
    if (r < 0 || r + 1 > KILN_MAX_RANK) return bad_config(c, L, "missing or too long target_shape");
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = r;
    for (int i = 0; i < r; i++) {
        const cJSON *e = kk_unwrap(cJSON_GetArrayItem(t, i));
        a.shape[i] = cJSON_IsNumber(e) ? (int64_t)e->valuedouble : -1;
    }
    return kk_add(c, L, KILN_OP_RESHAPE, L->node_name, in, 1, &a, out);
}

static kiln_status conv_flatten(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const char *fmt = kk_str(L->cfg, "data_format");
    const kiln_value *x = V(c, in[0]);
    int src = in[0];
    if (fmt && !strcmp(fmt, "channels_first") && x->rank > 2) {
        /* Keras moves the channels last before flattening a channels_first tensor. */
        kiln_attrs t;
        kiln_attrs_init(&t);
        t.rank = x->rank;
        t.perm[0] = 0;
        for (int i = 1; i < x->rank - 1; i++) t.perm[i] = i + 1;
        t.perm[x->rank - 1] = 1;
        char buf[320];
        if ((st = kk_add(c, L, KILN_OP_TRANSPOSE, role(L, "to_channels_last", buf, sizeof buf), in, 1, &t, &src)))
            return st;
    }
    in = &src;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 1;
    a.shape[0] = -1; /* NHWC row-major order is Keras channels_last Flatten order */
    return kk_add(c, L, KILN_OP_RESHAPE, L->node_name, in, 1, &a, out);
}

static kiln_status conv_permute(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = x->rank;
    int dims[KILN_MAX_RANK];
    if (x->rank < 2 || kk_ints(L->cfg, "dims", x->rank - 1, 0, dims)) return bad_config(c, L, "malformed dims");
    a.perm[0] = 0;
    for (int i = 1; i < x->rank; i++) a.perm[i] = dims[i - 1]; /* Keras dims are 1-based, batch excluded */
    return kk_add(c, L, KILN_OP_TRANSPOSE, L->node_name, in, 1, &a, out);
}

/* Rescaling: y = x * scale + offset (scale/offset scalars or per-channel lists). */
static kiln_status rescale_const(kk_ctx *c, const kk_layer *L, const char *key, double dflt, int *id, int *is_dflt)
{
    const cJSON *v = kk_unwrap(cJSON_GetObjectItemCaseSensitive(L->cfg, key));
    const cJSON *l = kk_list(v);
    if (!l) {
        double s = dflt;
        if (v && !cJSON_IsNull(v) && !cJSON_IsNumber(v)) return bad_config(c, L, "malformed scale/offset");
        if (cJSON_IsNumber(v)) s = v->valuedouble;
        *is_dflt = s == dflt;
        return kk_fill(c, L, key, 1, (float)s, id);
    }
    int n = cJSON_GetArraySize(l);
    if (n < 1) return bad_config(c, L, "empty scale/offset");
    kiln_status st = kk_fill(c, L, key, n, 0.0f, id);
    if (st) return st;
    float *d = c->g->values[*id].data;
    for (int i = 0; i < n; i++) {
        const cJSON *e = kk_unwrap(cJSON_GetArrayItem(l, i));
        if (!cJSON_IsNumber(e)) return bad_config(c, L, "malformed scale/offset");
        d[i] = (float)e->valuedouble;
    }
    *is_dflt = 0;
    return KILN_OK;
}
static kiln_status conv_rescaling(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    int scale, offset, scale_dflt, offset_dflt;
    if ((st = rescale_const(c, L, "scale", 1.0, &scale, &scale_dflt))) return st;
    if ((st = rescale_const(c, L, "offset", 0.0, &offset, &offset_dflt))) return st;
    char buf[320];
    int mid, p1[2] = { in[0], scale };
    if ((st = kk_add(c, L, KILN_OP_MUL, role(L, "scale", buf, sizeof buf), p1, 2, NULL, &mid))) return st;
    int p2[2] = { mid, offset };
    return kk_add(c, L, KILN_OP_ADD, L->node_name, p2, 2, NULL, out);
}

/* Normalization (preprocessing layer, e.g. keras.applications EfficientNet): y = (x - mean) / max(sqrt(var), 1e-7),
 * as a BatchNorm with gamma 1, beta 0, eps 0 and var clamped at 1e-14. mean/variance come from the config when given
 * there, else from the layer's weights. */
static kiln_status norm_stat(kk_ctx *c, const kk_layer *L, const char *key, int64_t ch, int *id)
{
    const cJSON *v = kk_unwrap(cJSON_GetObjectItemCaseSensitive(L->cfg, key));
    if (!v || cJSON_IsNull(v)) {
        int64_t d[1] = { ch };
        return kk_weight(c, L, key, NULL, 1, 1, d, NULL, id);
    }
    kiln_status st = kk_fill(c, L, key, ch, cJSON_IsNumber(v) ? (float)v->valuedouble : 0.0f, id);
    if (st || cJSON_IsNumber(v)) return st;
    const cJSON *l = kk_list(v);
    if (!l || cJSON_GetArraySize(l) != ch) return bad_config(c, L, "mean/variance length differs from the channels");
    for (int64_t i = 0; i < ch; i++) {
        const cJSON *e = kk_unwrap(cJSON_GetArrayItem(l, (int)i));
        if (!cJSON_IsNumber(e)) return bad_config(c, L, "malformed mean/variance");
        c->g->values[*id].data[i] = (float)e->valuedouble;
    }
    return KILN_OK;
}
static kiln_status conv_normalization(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    if (config_axis(L, "axis", -1, x->rank) != x->rank - 1) return unsupported(c, L, "axis other than the last");
    if (kk_bool(L->cfg, "invert", 0)) return unsupported(c, L, "invert=True");
    int64_t ch = x->dims[x->rank - 1];
    int ins[5] = { in[0], -1, -1, -1, -1 };
    if ((st = kk_fill(c, L, "gamma", ch, 1.0f, &ins[1])) || (st = kk_fill(c, L, "beta", ch, 0.0f, &ins[2])) ||
        (st = norm_stat(c, L, "mean", ch, &ins[3])) || (st = norm_stat(c, L, "variance", ch, &ins[4])))
        return st;
    float *var = c->g->values[ins[4]].data;
    for (int64_t i = 0; i < ch; i++)
        if (!(var[i] >= 1e-14f)) var[i] = 1e-14f;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.eps = 0.0f;
    return kk_add(c, L, KILN_OP_BATCHNORM, L->node_name, ins, 5, &a, out);
}

/* LayerNormalization over the last axis (the only form keras.applications uses; ConvNeXt: epsilon 1e-6). */
static kiln_status conv_layernorm(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    const cJSON *ax = kk_list(cJSON_GetObjectItemCaseSensitive(L->cfg, "axis"));
    if (ax && cJSON_GetArraySize(ax) != 1) return unsupported(c, L, "normalizes several axes");
    if (config_axis(L, "axis", -1, x->rank) != x->rank - 1) return unsupported(c, L, "axis other than the last");
    if (kk_bool(L->cfg, "rms_scaling", 0)) return unsupported(c, L, "rms_scaling=True");
    int64_t ch = x->dims[x->rank - 1], d[1] = { ch };
    kiln_attrs a;
    kiln_attrs_init(&a);
    double eps;
    kk_num(L->cfg, "epsilon", 1e-3, &eps);
    a.eps = (float)eps;
    int ins[3] = { in[0], -1, -1 };
    if (kk_bool(L->cfg, "scale", 1)) st = kk_weight(c, L, "gamma", NULL, 1, 1, d, NULL, &ins[1]);
    else st = kk_fill(c, L, "gamma", ch, 1.0f, &ins[1]);
    if (st) return st;
    if (kk_bool(L->cfg, "center", 1)) st = kk_weight(c, L, "beta", NULL, 1, 1, d, NULL, &ins[2]);
    else st = kk_fill(c, L, "beta", ch, 0.0f, &ins[2]);
    if (st) return st;
    return kk_add(c, L, KILN_OP_LAYERNORM, L->node_name, ins, 3, &a, out);
}

/* A (begin, end) pair per spatial axis from an int, (sym_h, sym_w) or ((top, bottom), (left, right)). */
static int pairs2(const cJSON *cfg, const char *key, int dflt, int p[4])
{
    for (int i = 0; i < 4; i++) p[i] = dflt;
    const cJSON *v = kk_unwrap(cJSON_GetObjectItemCaseSensitive(cfg, key));
    const cJSON *l = kk_list(v);
    if (!v) return 0;
    if (cJSON_IsNumber(v)) {
        for (int i = 0; i < 4; i++) p[i] = (int)v->valuedouble;
        return 0;
    }
    if (!l || cJSON_GetArraySize(l) != 2) return -1;
    for (int i = 0; i < 2; i++) {
        const cJSON *e = kk_unwrap(cJSON_GetArrayItem(l, i));
        const cJSON *el = kk_list(e);
        if (cJSON_IsNumber(e)) {
            p[2 * i] = p[2 * i + 1] = (int)e->valuedouble;
        } else if (el && cJSON_GetArraySize(el) == 2 && cJSON_IsNumber(kk_unwrap(cJSON_GetArrayItem(el, 0))) &&
                   cJSON_IsNumber(kk_unwrap(cJSON_GetArrayItem(el, 1)))) {
            p[2 * i] = (int)kk_unwrap(cJSON_GetArrayItem(el, 0))->valuedouble;
            p[2 * i + 1] = (int)kk_unwrap(cJSON_GetArrayItem(el, 1))->valuedouble;
        } else {
            return -1;
        }
    }
    return 0;
}

static kiln_status conv_cropping2d(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    if (V(c, in[0])->rank != 4) return bad_config(c, L, "expects a 4-D input");
    int p[4];
    if (pairs2(L->cfg, "cropping", 0, p)) return bad_config(c, L, "malformed cropping");
    if (p[0] + p[1] >= V(c, in[0])->dims[1] || p[2] + p[3] >= V(c, in[0])->dims[2])
        return bad_config(c, L, "cropping removes the whole image");
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 4;
    a.pads_begin[1] = p[0];
    a.pads_end[1] = p[1];
    a.pads_begin[2] = p[2];
    a.pads_end[2] = p[3];
    return kk_add(c, L, KILN_OP_CROP, L->node_name, in, 1, &a, out);
}

static kiln_status conv_upsampling2d(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    if (x->rank != 4) return bad_config(c, L, "expects a 4-D input");
    int size[2];
    if (kk_ints(L->cfg, "size", 2, 2, size) < 0 || size[0] < 1 || size[1] < 1) return bad_config(c, L, "malformed size");
    const char *mode = kk_str(L->cfg, "interpolation");
    kiln_attrs a;
    kiln_attrs_init(&a);
    if (!mode || !strcmp(mode, "nearest")) a.groups = 0;
    else if (!strcmp(mode, "bilinear")) a.groups = 1;
    else return unsupported(c, L, "interpolation other than nearest/bilinear");
    a.shape[0] = x->dims[1] * size[0];
    a.shape[1] = x->dims[2] * size[1];
    return kk_add(c, L, KILN_OP_RESIZE, L->node_name, in, 1, &a, out);
}

/* y = x * scalar constant, or x + scalar (a one-element constant broadcasts). */
static kiln_status scalar_op(kk_ctx *c, const kk_layer *L, kiln_op op, const char *kind, const char *name, int x,
                             float v, int *out)
{
    int k;
    kiln_status st = kk_fill(c, L, kind, 1, v, &k);
    if (st) return st;
    int pair[2] = { x, k };
    return kk_add(c, L, op, name, pair, 2, NULL, out);
}

/* keras.applications InceptionResNetV2 (Keras >= 2.13 / Keras 3): inputs[0] + inputs[1] * scale. */
static kiln_status conv_custom_scale(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 2, 2);
    if (st) return st;
    double scale;
    if (!kk_num(L->cfg, "scale", 0, &scale)) return bad_config(c, L, "missing scale");
    char buf[320];
    int scaled;
    if ((st = scalar_op(c, L, KILN_OP_MUL, "scale", role(L, "scale", buf, sizeof buf), in[1], (float)scale, &scaled)))
        return st;
    int pair[2] = { in[0], scaled };
    return kk_add(c, L, KILN_OP_ADD, L->node_name, pair, 2, NULL, out);
}

/* keras.applications ConvNeXt LayerScale: x * gamma (one weight per channel). */
static kiln_status conv_layer_scale(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_status st = need_inputs(c, L, n_in, 1, 1);
    if (st) return st;
    const kiln_value *x = V(c, in[0]);
    int64_t d[1] = { x->dims[x->rank - 1] };
    int pair[2] = { in[0], -1 };
    /* tf_keras names it gamma; Keras 3's legacy .h5 calls the unnamed variable "variable" */
    if ((st = kk_weight(c, L, "gamma", "variable", 1, 1, d, NULL, &pair[1]))) return st;
    return kk_add(c, L, KILN_OP_MUL, L->node_name, pair, 2, NULL, out);
}

/* tf_keras TFOpLambda: a TensorFlow function applied to Keras tensors (x + 3.0, x * (1/6) in MobileNetV3's
 * hard-swish, x + shortcut in RegNet). Only the arithmetic keras.applications produces is accepted; the second
 * operand is a tensor (an extra input, from the call's kwargs) or the number kwargs.y. */
static const struct {
    const char *fn;
    kiln_op op;
} tf_ops[] = {
    { "__operators__.add", KILN_OP_ADD }, { "math.add", KILN_OP_ADD },       { "math.multiply", KILN_OP_MUL },
    { "__operators__.mul", KILN_OP_MUL }, { "math.subtract", KILN_OP_SUB },  { "__operators__.sub", KILN_OP_SUB },
    { "math.truediv", KILN_OP_DIV },      { "__operators__.truediv", KILN_OP_DIV }, { "math.divide", KILN_OP_DIV },
    { "math.maximum", KILN_OP_MAX },      { "math.minimum", KILN_OP_MIN },
};

static int tf_op_lookup(const cJSON *cfg, kiln_op *op)
{
    const char *fn = kk_str(cfg, "function");
    for (size_t i = 0; fn && i < sizeof tf_ops / sizeof tf_ops[0]; i++)
        if (!strcmp(fn, tf_ops[i].fn)) {
            *op = tf_ops[i].op;
            return 1;
        }
    return 0;
}

static kiln_status conv_tf_op_lambda(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out)
{
    kiln_op op;
    if (!tf_op_lookup(L->cfg, &op)) return unsupported(c, L, "TensorFlow function not supported");
    kiln_status st = need_inputs(c, L, n_in, 1, 2);
    if (st) return st;
    if (n_in == 2) return kk_add(c, L, op, L->node_name, in, 2, NULL, out);
    double y;
    if (!kk_num(L->kwargs, "y", 0, &y)) return unsupported(c, L, "second operand is neither a tensor nor a number");
    return scalar_op(c, L, op, "y", L->node_name, in[0], (float)y, out);
}

static const char *check_tf_op_lambda(const kk_ctx *c, const cJSON *cfg)
{
    (void)c;
    kiln_op op;
    return tf_op_lookup(cfg, &op) ? NULL : "TensorFlow function not supported";
}

/* ---- config checks (run before conversion so that every unsupported layer is listed at once) ------------------ */

static const char *check_activation(const kk_ctx *c, const cJSON *cfg)
{
    kiln_act a;
    int softmax;
    return kk_parse_activation(c, cJSON_GetObjectItemCaseSensitive(cfg, "activation"), &a, &softmax);
}

static const char *check_conv(const kk_ctx *c, const cJSON *cfg)
{
    const char *pad = kk_str(cfg, "padding");
    if (pad && strcasecmp(pad, "same") && strcasecmp(pad, "valid")) return "padding is neither 'same' nor 'valid'";
    return check_activation(c, cfg);
}

static const char *check_pool(const kk_ctx *c, const cJSON *cfg)
{
    (void)c;
    const char *pad = kk_str(cfg, "padding");
    if (pad && strcasecmp(pad, "same") && strcasecmp(pad, "valid")) return "padding is neither 'same' nor 'valid'";
    return NULL;
}

static const char *check_bn(const kk_ctx *c, const cJSON *cfg)
{
    (void)c;
    const cJSON *ax = kk_unwrap(cJSON_GetObjectItemCaseSensitive(cfg, "axis"));
    const cJSON *l = kk_list(ax);
    if (l && cJSON_GetArraySize(l) != 1) return "normalizes several axes";
    if (kk_bool(cfg, "renorm", 0)) return "batch renormalization";
    return NULL;
}

static const struct {
    const char *class_name;
    kk_convert_fn convert;
    kk_check_fn check;
} layer_table[] = {
    { "Conv2D", conv_conv2d, check_conv },
    { "Convolution2D", conv_conv2d, check_conv },
    { "DepthwiseConv2D", conv_depthwise, check_conv },
    { "SeparableConv2D", conv_separable, check_conv },
    { "SeparableConvolution2D", conv_separable, check_conv },
    { "Dense", conv_dense, check_activation },
    { "BatchNormalization", conv_batchnorm, check_bn },
    { "Activation", conv_activation, check_activation },
    { "ReLU", conv_relu, NULL },
    { "LeakyReLU", conv_leaky_relu, NULL },
    { "ELU", conv_elu, NULL },
    { "Softmax", conv_softmax, NULL },
    { "MaxPooling2D", conv_maxpool, check_pool },
    { "MaxPool2D", conv_maxpool, check_pool },
    { "AveragePooling2D", conv_avgpool, check_pool },
    { "AvgPool2D", conv_avgpool, check_pool },
    { "GlobalAveragePooling2D", conv_gap, NULL },
    { "GlobalAvgPool2D", conv_gap, NULL },
    { "GlobalMaxPooling2D", conv_gmp, NULL },
    { "GlobalMaxPool2D", conv_gmp, NULL },
    { "ZeroPadding2D", conv_zero_padding, NULL },
    { "Concatenate", conv_concat, NULL },
    { "Add", conv_add, NULL },
    { "Multiply", conv_multiply, NULL },
    { "Subtract", conv_subtract, NULL },
    { "Divide", conv_divide, NULL },
    { "TrueDivide", conv_divide, NULL },
    { "Maximum", conv_maximum, NULL },
    { "Minimum", conv_minimum, NULL },
    { "Average", conv_average, NULL },
    { "Reshape", conv_reshape, NULL },
    { "Flatten", conv_flatten, NULL },
    { "Permute", conv_permute, NULL },
    { "Rescaling", conv_rescaling, NULL },
    { "LayerNormalization", conv_layernorm, NULL },
    { "Cropping2D", conv_cropping2d, NULL },
    { "UpSampling2D", conv_upsampling2d, NULL },
    { "CustomScaleLayer", conv_custom_scale, NULL },
    { "LayerScale", conv_layer_scale, NULL },
    { "TFOpLambda", conv_tf_op_lambda, check_tf_op_lambda },
    { "StochasticDepth", conv_identity, NULL },
    { "Normalization", conv_normalization, NULL },
    /* Inference-time identities. FixedDropout is the custom Dropout of qubvel/efficientnet. */
    { "Dropout", conv_identity, NULL },
    { "SpatialDropout1D", conv_identity, NULL },
    { "SpatialDropout2D", conv_identity, NULL },
    { "SpatialDropout3D", conv_identity, NULL },
    { "GaussianNoise", conv_identity, NULL },
    { "GaussianDropout", conv_identity, NULL },
    { "AlphaDropout", conv_identity, NULL },
    { "ActivityRegularization", conv_identity, NULL },
    { "FixedDropout", conv_identity, NULL },
};

int kk_layer_lookup(const char *class_name, kk_convert_fn *convert, kk_check_fn *check)
{
    for (size_t i = 0; i < sizeof layer_table / sizeof layer_table[0]; i++) {
        if (!strcmp(layer_table[i].class_name, class_name)) {
            *convert = layer_table[i].convert;
            *check = layer_table[i].check;
            return 1;
        }
    }
    return 0;
}

const char *kk_layer_unsupported(const kk_ctx *c, const char *class_name, const cJSON *cfg)
{
    kk_convert_fn conv;
    kk_check_fn check;
    if (!kk_layer_lookup(class_name, &conv, &check)) {
        return ""; /* unknown class (Lambda, custom layers): the class name says it all */
    }
    const char *fmt = kk_str(cfg, "data_format");
    if (fmt && !strcmp(fmt, "channels_first") && !kk_layout_wrappable(class_name) && strcmp(class_name, "Flatten"))
        return "data_format channels_first";
    return check ? check(c, cfg) : NULL;
}
