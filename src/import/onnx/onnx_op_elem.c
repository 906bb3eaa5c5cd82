/* Elementwise operators: activations, broadcasting binaries (constants are permuted into the activation's physical
 * order), Clip (attribute and input forms), PRelu, Softmax. None of them cares about the physical order, so the
 * output keeps the input's perm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/act.h"
#include "onnx_internal.h"

kiln_status ox_op_unary(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    const char *op = c->node->op_type;
    const Onnx__NodeProto *n = c->node;
    kiln_attrs a;
    kiln_attrs_init(&a);
    kiln_op kop = KILN_OP_ACTIVATION;
    if (!strcmp(op, "Relu")) a.act = kiln_act_relu();
    else if (!strcmp(op, "LeakyRelu")) a.act = kiln_act_make(KILN_ACT_RELU, ox_attr_f(n, "alpha", 0.01f), INFINITY, 0);
    else if (!strcmp(op, "Sigmoid")) a.act = kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0);
    else if (!strcmp(op, "HardSigmoid"))
        a.act = kiln_act_make(KILN_ACT_HARD_SIGMOID, ox_attr_f(n, "alpha", 0.2f), ox_attr_f(n, "beta", 0.5f), 0);
    else if (!strcmp(op, "HardSwish")) a.act = kiln_act_make(KILN_ACT_HARD_SWISH, 0, 0, 0);
    else if (!strcmp(op, "Tanh")) a.act = kiln_act_make(KILN_ACT_TANH, 0, 0, 0);
    else if (!strcmp(op, "Elu")) a.act = kiln_act_make(KILN_ACT_ELU, ox_attr_f(n, "alpha", 1.0f), 0, 0);
    else if (!strcmp(op, "Selu")) {
        const float al = ox_attr_f(n, "alpha", 1.67326319217681884765625f);
        const float ga = ox_attr_f(n, "gamma", 1.05070102214813232421875f);
        if (fabsf(al - 1.6732632f) > 1e-6f || fabsf(ga - 1.0507010f) > 1e-6f) { /* gamma * elu_alpha(x) */
            int e, ids[2], vid;
            int64_t one = 1;
            a.act = kiln_act_make(KILN_ACT_ELU, al, 0, 0);
            if ((st = ox_emit(c, KILN_OP_ACTIVATION, "elu", &x->vid, 1, &a, &e))) return st;
            if ((st = ox_kconst(c, "gamma", 1, &one, &ga, &ids[1]))) return st;
            ids[0] = e;
            if ((st = ox_emit(c, KILN_OP_MUL, "", ids, 2, NULL, &vid))) return st;
            return ox_set_act(c, 0, vid, x->perm);
        }
        a.act = kiln_act_make(KILN_ACT_SELU, 0, 0, 0);
    }
    else if (!strcmp(op, "Softplus")) a.act = kiln_act_make(KILN_ACT_SOFTPLUS, 0, 0, 0);
    else if (!strcmp(op, "Softsign")) a.act = kiln_act_make(KILN_ACT_SOFTSIGN, 0, 0, 0);
    else if (!strcmp(op, "Exp")) a.act = kiln_act_make(KILN_ACT_EXP, 0, 0, 0);
    else if (!strcmp(op, "Sqrt")) a.act = kiln_act_make(KILN_ACT_SQRT, 0, 0, 0);
    else if (!strcmp(op, "Neg")) a.act = kiln_act_make(KILN_ACT_NEG, 0, 0, 0);
    else if (!strcmp(op, "Log")) a.act = kiln_act_make(KILN_ACT_LOG, 0, 0, 0);
    else if (!strcmp(op, "Abs")) a.act = kiln_act_make(KILN_ACT_ABS, 0, 0, 0);
    else if (!strcmp(op, "Reciprocal")) a.act = kiln_act_make(KILN_ACT_RECIPROCAL, 0, 0, 0);
    else if (!strcmp(op, "Floor")) a.act = kiln_act_make(KILN_ACT_FLOOR, 0, 0, 0);
    else if (!strcmp(op, "Ceil")) a.act = kiln_act_make(KILN_ACT_CEIL, 0, 0, 0);
    else if (!strcmp(op, "Gelu")) {
        char buf[16];
        a.act = kiln_act_make(KILN_ACT_GELU, strcmp(ox_attr_s(n, "approximate", "none", buf, sizeof buf), "none") ? 1.0f
                                                                                                                : 0.0f, 0, 0);
    } else if (!strcmp(op, "Erf")) kop = KILN_OP_ERF;
    else return ox_fail(c, KILN_ERR_UNSUPPORTED, "unknown activation");
    int vid;
    if ((st = ox_emit(c, kop, "", &x->vid, 1, &a, &vid))) return st;
    return ox_set_act(c, 0, vid, x->perm);
}

static kiln_op binary_op(const char *op)
{
    return !strcmp(op, "Add") ? KILN_OP_ADD : !strcmp(op, "Sub") ? KILN_OP_SUB : !strcmp(op, "Mul") ? KILN_OP_MUL
         : !strcmp(op, "Div") ? KILN_OP_DIV : !strcmp(op, "Max") ? KILN_OP_MAX : KILN_OP_MIN;
}

/* y = op(a, b) where at least one is an activation; *out_perm receives the result's perm. */
kiln_status ox_binary(ox_ctx *c, kiln_op op, const ox_val *a, const ox_val *b, const char *suffix, int *vid,
                      int *out_perm)
{
    kiln_status st;
    int ids[2];
    if (a->kind != OX_ACT) { /* constant first */
        if (op == KILN_OP_ADD || op == KILN_OP_MUL || op == KILN_OP_MAX || op == KILN_OP_MIN) {
            const ox_val *t = a;
            a = b;
            b = t;
        } else if (op == KILN_OP_SUB) { /* k - x = (x * -1) + k */
            float m1 = -1.0f;
            int64_t one = 1;
            int neg;
            if ((st = ox_kconst(c, "minus_one", 1, &one, &m1, &ids[1]))) return st;
            ids[0] = b->vid;
            if ((st = ox_emit(c, KILN_OP_MUL, "negate", ids, 2, NULL, &neg))) return st;
            if ((st = ox_bcast_const(c, a, b, &ids[1]))) return st;
            ids[0] = neg;
            memcpy(out_perm, b->perm, sizeof b->perm);
            return ox_emit(c, KILN_OP_ADD, suffix, ids, 2, NULL, vid);
        } else if (op == KILN_OP_POW) { /* k ^ x: the constant stays first (the reference kernel takes either) */
            if ((st = ox_bcast_const(c, a, b, &ids[0]))) return st;
            ids[1] = b->vid;
            memcpy(out_perm, b->perm, sizeof b->perm);
            return ox_emit(c, op, suffix, ids, 2, NULL, vid);
        } else {
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "a constant divided by a run-time tensor");
        }
    }
    memcpy(out_perm, a->perm, sizeof a->perm);
    ids[0] = a->vid;
    if (b->kind == OX_CONST) {
        if ((st = ox_bcast_const(c, b, a, &ids[1]))) return st;
    } else {
        if (ox_rank(c, a) != ox_rank(c, b))
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "run-time inputs of different ranks (%d, %d)", ox_rank(c, a),
                           ox_rank(c, b));
        if ((st = ox_to_perm(c, b, a->perm, &ids[1]))) return st;
    }
    return ox_emit(c, op, suffix, ids, 2, NULL, vid);
}

/* MatMul followed by Add of a [N]-vector (tf2onnx's Dense = MatMul + BiasAdd): the vector becomes the bias of the
 * Dense node, which is renamed "matmul + add" like any fusion. Returns 1 when done. */
static int fold_bias(ox_ctx *c, const ox_val *a, const ox_val *b, kiln_status *st)
{
    *st = KILN_OK;
    if (a->kind != OX_ACT || b->kind != OX_CONST) return 0;
    int p = c->g->values[a->vid].producer;
    if (p < 0) return 0;
    kiln_node *d = &c->g->nodes[p];
    const kiln_value *w = &c->g->values[d->inputs[1]];
    if (d->op != KILN_OP_DENSE || d->n_inputs != 2 || w->rank != 2 || b->numel != w->dims[1]) return 0;
    for (int i = 0; i + 1 < b->rank; i++)
        if (b->dims[i] != 1) return 0;
    if (b->rank > ox_rank(c, a) || ox_uses(c, a->name) != 1) return 0;
    float *bias = ox_const_floats(b);
    if (!bias) {
        *st = ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        return 1;
    }
    int id;
    int64_t n = b->numel;
    *st = ox_kconst(c, "bias", 1, &n, bias, &id);
    free(bias);
    if (*st) return 1;
    d = &c->g->nodes[p];
    size_t len = strlen(d->name) + strlen(c->node_name) + 4;
    char *name = malloc(len);
    if (!name) {
        *st = ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        return 1;
    }
    snprintf(name, len, "%s + %s", d->name, c->node_name);
    free(d->name);
    d->name = name;
    d->inputs[d->n_inputs++] = id;
    *st = ox_set_act(c, 0, a->vid, a->perm);
    return 1;
}

kiln_status ox_op_binary(ox_ctx *c)
{
    kiln_op op = binary_op(c->node->op_type);
    if (op == KILN_OP_ADD && ox_has_in(c, 0) && ox_has_in(c, 1) && c->node->n_input == 2) {
        const ox_val *a = ox_in(c, 0), *b = ox_in(c, 1);
        kiln_status st;
        if (a && b && (fold_bias(c, a, b, &st) || fold_bias(c, b, a, &st))) return st;
    }
    int n = 0, idx[64];
    for (int i = 0; i < (int)c->node->n_input && n < 64; i++)
        if (ox_has_in(c, i)) idx[n++] = i;
    if (n == 1) return ox_op_identity(c);
    if (n < 1) return ox_fail(c, KILN_ERR_FORMAT, "no inputs");
    const ox_val *acc = ox_in(c, idx[0]);
    if (!acc) return ox_fail(c, KILN_ERR_FORMAT, "input 0 missing");
    ox_val cur = *acc;
    kiln_status st;
    int vid = -1, perm[KILN_MAX_RANK];
    for (int k = 1; k < n; k++) {
        const ox_val *b = ox_in(c, idx[k]);
        if (!b) return ox_fail(c, KILN_ERR_FORMAT, "input %d missing", idx[k]);
        char suffix[32] = "";
        if (k < n - 1) snprintf(suffix, sizeof suffix, "part%d", k);
        if ((st = ox_binary(c, op, &cur, b, suffix, &vid, perm))) return st;
        memset(&cur, 0, sizeof cur);
        cur.name = "";
        cur.kind = OX_ACT;
        cur.vid = vid;
        memcpy(cur.perm, perm, sizeof perm);
    }
    return ox_set_act(c, 0, vid, perm);
}

kiln_status ox_op_identity(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int vid;
    if ((st = ox_emit(c, KILN_OP_IDENTITY, "", &x->vid, 1, NULL, &vid))) return st;
    return ox_set_act(c, 0, vid, x->perm);
}

/* Scalar bound of Clip: input i (opset >= 11) or attribute. Returns 1 when present. */
static int clip_bound(ox_ctx *c, int i, const char *attr, float *out, kiln_status *st)
{
    *st = KILN_OK;
    if (c->opset < 11) {
        const Onnx__AttributeProto *a = ox_attr(c->node, attr);
        if (a && a->has_f) *out = a->f;
        return a && a->has_f;
    }
    if (!ox_has_in(c, i)) return 0;
    const ox_val *v;
    if ((*st = ox_const_in(c, i, attr, &v))) return 0;
    if (v->numel != 1) {
        *st = ox_fail(c, KILN_ERR_FORMAT, "%s must be a scalar", attr);
        return 0;
    }
    *out = v->is_int ? (float)v->i[0] : v->f[0];
    return 1;
}

kiln_status ox_op_clip(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    float lo = -INFINITY, hi = INFINITY;
    int has_lo = clip_bound(c, 1, "min", &lo, &st);
    if (st) return st;
    int has_hi = clip_bound(c, 2, "max", &hi, &st);
    if (st) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    int vid, ids[2];
    if (has_lo && lo == 0.0f) { /* relu / relu6: fusable into the producer */
        a.act = kiln_act_make(KILN_ACT_RELU, 0, has_hi ? hi : INFINITY, 0);
        if ((st = ox_emit(c, KILN_OP_ACTIVATION, "", &x->vid, 1, &a, &vid))) return st;
        return ox_set_act(c, 0, vid, x->perm);
    }
    if (!has_lo && !has_hi) return ox_op_identity(c);
    int64_t one = 1;
    int cur = x->vid;
    if (has_lo) {
        if ((st = ox_kconst(c, "min", 1, &one, &lo, &ids[1]))) return st;
        ids[0] = cur;
        if ((st = ox_emit(c, KILN_OP_MAX, has_hi ? "min" : "", ids, 2, NULL, &cur))) return st;
    }
    if (has_hi) {
        if ((st = ox_kconst(c, "max", 1, &one, &hi, &ids[1]))) return st;
        ids[0] = cur;
        if ((st = ox_emit(c, KILN_OP_MIN, "", ids, 2, NULL, &cur))) return st;
    }
    return ox_set_act(c, 0, cur, x->perm);
}

/* PRelu(x, slope) = max(x, 0) + slope * min(x, 0), built from kiln's broadcasting ops (slope constant or run-time). */
kiln_status ox_op_prelu(ox_ctx *c)
{
    const ox_val *x, *s = ox_in(c, 1);
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    if (!s) return ox_fail(c, KILN_ERR_FORMAT, "PRelu needs a slope");
    int ids[2], neg, scaled, pos, vid;
    float zero = 0.0f;
    int64_t one = 1;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = kiln_act_relu();
    ids[0] = x->vid;
    if ((st = ox_kconst(c, "zero", 1, &one, &zero, &ids[1]))) return st;
    if ((st = ox_emit(c, KILN_OP_MIN, "negative", ids, 2, NULL, &neg))) return st;
    ox_val negv = { .name = "", .kind = OX_ACT, .vid = neg };
    memcpy(negv.perm, x->perm, sizeof x->perm);
    int sperm[KILN_MAX_RANK];
    if ((st = ox_binary(c, KILN_OP_MUL, &negv, s, "scaled", &scaled, sperm))) return st; /* constant or run-time slope */
    if ((st = ox_emit(c, KILN_OP_ACTIVATION, "positive", &x->vid, 1, &a, &pos))) return st;
    ids[0] = pos;
    ids[1] = scaled;
    if ((st = ox_emit(c, KILN_OP_ADD, "", ids, 2, NULL, &vid))) return st;
    return ox_set_act(c, 0, vid, x->perm);
}

kiln_status ox_op_softmax(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int r = ox_rank(c, x);
    int64_t axis = ox_attr_i(c->node, "axis", c->opset < 13 ? 1 : -1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis out of range");
    if (c->opset < 13 && axis < r - 1) {
        /* Before opset 13 Softmax normalizes over all axes from `axis` on; kiln does it when only one of them is
         * larger than 1. */
        int64_t big = -1;
        for (int64_t i = axis; i < r; i++)
            if (i == x->perm[0] || ox_dim(c, x, (int)i) != 1) {
                if (i == x->perm[0])
                    return ox_fail_batch(c, "opset < 13 softmax over several axes (from axis %lld), the batch "
                                         "included", (long long)axis);
                if (big >= 0)
                    return ox_fail(c, KILN_ERR_UNSUPPORTED, "opset < 13 softmax over several axes (from axis %lld)",
                                   (long long)axis);
                big = i;
            }
        axis = big >= 0 ? big : r - 1;
    }
    if (axis == x->perm[0]) return ox_fail_batch(c, "softmax over the batch axis");
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.axis = ox_phys_axis(x, r, (int)axis);
    int vid;
    const int log = !strcmp(c->node->op_type, "LogSoftmax");
    if ((st = ox_emit(c, KILN_OP_SOFTMAX, log ? "softmax" : "", &x->vid, 1, &a, &vid))) return st;
    if (log) { /* LogSoftmax = log(softmax(x)): a separate log activation (SOFTMAX has no fused epilogue) */
        int sm = vid;
        kiln_attrs_init(&a);
        a.act = kiln_act_make(KILN_ACT_LOG, 0, 0, 0);
        if ((st = ox_emit(c, KILN_OP_ACTIVATION, "", &sm, 1, &a, &vid))) return st;
    }
    return ox_set_act(c, 0, vid, x->perm);
}

/* 1 when constant e holds one value repeated and does not broadcast x to a larger shape. */
static int uniform_exponent(ox_ctx *c, const ox_val *x, const ox_val *e)
{
    if (e->numel < 1 || e->rank > ox_rank(c, x)) return 0;
    for (int64_t k = 1; k < e->numel; k++)
        if ((e->is_int ? (double)e->i[k] : (double)e->f[k]) != (e->is_int ? (double)e->i[0] : (double)e->f[0]))
            return 0;
    for (int i = 0; i < e->rank; i++)
        if (e->dims[e->rank - 1 - i] != 1 && e->dims[e->rank - 1 - i] != ox_dim(c, x, ox_rank(c, x) - 1 - i))
            return 0;
    return 1;
}

/* Pow(x, p): with a constant scalar exponent p (every value of the exponent tensor equal) the POW activation, which
 * fuses into the producer; otherwise (a run-time or per-element exponent, a constant base) kiln's broadcasting POW. */
kiln_status ox_op_pow(ox_ctx *c)
{
    const ox_val *x = ox_in(c, 0), *e = ox_in(c, 1);
    if (!x || !e) return ox_fail(c, KILN_ERR_FORMAT, "Pow needs two inputs");
    kiln_status st;
    if (x->kind != OX_ACT || e->kind != OX_CONST || !uniform_exponent(c, x, e)) {
        int vid, perm[KILN_MAX_RANK];
        if ((st = ox_binary(c, KILN_OP_POW, x, e, "", &vid, perm))) return st;
        return ox_set_act(c, 0, vid, perm);
    }
    const double p = e->is_int ? (double)e->i[0] : (double)e->f[0];
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = kiln_act_make(KILN_ACT_POW, (float)p, 0, 0);
    int vid;
    if ((st = ox_emit(c, KILN_OP_ACTIVATION, "", &x->vid, 1, &a, &vid))) return st;
    return ox_set_act(c, 0, vid, x->perm);
}
