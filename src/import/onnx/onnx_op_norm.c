/* LayerNormalization over the last axis -> kiln's LAYERNORM (the Keras importer's op: mean/variance over the last
 * physical axis of each position). The optional Mean and InvStdDev outputs are computed by extra Dense/Sub/Mul
 * nodes (only when used). */
#include <stdlib.h>
#include <string.h>

#include "../../core/act.h"
#include "onnx_internal.h"

/* Constant of C floats from scale/bias k (C values, or one value broadcast); *id receives it. */
static kiln_status per_channel(ox_ctx *c, const ox_val *k, float dflt, int64_t C, const char *suffix, int *id)
{
    if (k && k->numel != C && k->numel != 1)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "%s has %lld values: kiln supports %lld (the last axis) or one",
                       suffix, (long long)k->numel, (long long)C);
    float *d = malloc(sizeof(float) * (size_t)C);
    if (!d) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < C; i++)
        d[i] = !k ? dflt : k->is_int ? (float)k->i[k->numel == 1 ? 0 : i] : k->f[k->numel == 1 ? 0 : i];
    kiln_status st = ox_kconst(c, suffix, 1, &C, d, id);
    free(d);
    return st;
}

static int ox_uses_output(const ox_ctx *c, int i)
{
    return i < (int)c->node->n_output && c->node->output[i] && c->node->output[i][0];
}

/* The optional Mean and InvStdDev outputs (shape [..., 1]) of x (kiln value xid, last axis of C values):
 *   mean = x W (W = [C,1] of 1/C: a Dense over the last axis), inv = pow((x - mean)^2 W + eps, -0.5). */
static kiln_status mean_inv_std(ox_ctx *c, int xid, int64_t C, float eps, const int *perm)
{
    float *w = malloc(sizeof(float) * (size_t)C);
    if (!w) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < C; i++) w[i] = 1.0f / (float)C;
    int64_t wd[2] = { C, 1 }, one = 1;
    int ids[3] = { xid, -1, -1 }, mean, centered, sq, inv;
    kiln_attrs a;
    kiln_attrs_init(&a);
    kiln_status st = ox_kconst(c, "mean_weights", 2, wd, w, &ids[1]);
    if (!st) st = ox_emit(c, KILN_OP_DENSE, "mean", ids, 2, &a, &mean);
    if (!st) st = ox_set_act(c, 1, mean, perm);
    if (st || !ox_uses_output(c, 2)) {
        free(w);
        return st;
    }
    ids[1] = mean;
    if (!st) st = ox_emit(c, KILN_OP_SUB, "centered", ids, 2, &a, &centered);
    ids[0] = ids[1] = centered;
    if (!st) st = ox_emit(c, KILN_OP_MUL, "squared", ids, 2, &a, &sq);
    ids[0] = sq;
    if (!st) st = ox_kconst(c, "var_weights", 2, wd, w, &ids[1]);
    if (!st) st = ox_kconst(c, "eps", 1, &one, &eps, &ids[2]);
    a.act = kiln_act_make(KILN_ACT_POW, -0.5f, 0, 0); /* (var + eps)^-1/2 fused into the Dense */
    if (!st) st = ox_emit(c, KILN_OP_DENSE, "inv_std_dev", ids, 3, &a, &inv);
    if (!st) st = ox_set_act(c, 2, inv, perm);
    free(w);
    return st;
}

kiln_status ox_op_layernorm(ox_ctx *c)
{
    const ox_val *x, *scale, *bias = NULL;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    if ((st = ox_const_in(c, 1, "Scale", &scale))) return st;
    if (ox_has_in(c, 2) && (st = ox_const_in(c, 2, "B", &bias))) return st;
    const int r = ox_rank(c, x);
    int64_t axis = ox_attr_i(c->node, "axis", -1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis out of range");
    if (x->perm[0] >= axis) return ox_fail(c, KILN_ERR_UNSUPPORTED, "layer normalization over the batch axis");
    /* kiln normalizes over one axis: the normalized axes other than the last must be of size 1 */
    for (int64_t i = axis; i < r - 1; i++)
        if (ox_dim(c, x, (int)i) != 1)
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "normalization over several axes (from axis %lld): only the last "
                           "axis", (long long)axis);
    const int64_t C = ox_dim(c, x, r - 1);
    int ids[3], perm[OX_MAX_RANK];
    if (x->perm[r - 1] == r - 1) { /* the logical last axis is already the physical last one (no data moves) */
        ids[0] = x->vid;
        memcpy(perm, x->perm, sizeof(int) * (size_t)r);
    } else { /* e.g. the W axis of an NCHW tensor stored NHWC: bring it into logical order */
        ox_identity(perm, r);
        if ((st = ox_to_perm(c, x, perm, &ids[0]))) return st;
    }
    if ((st = per_channel(c, scale, 1.0f, C, "scale", &ids[1]))) return st;
    if ((st = per_channel(c, bias, 0.0f, C, "bias", &ids[2]))) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.eps = ox_attr_f(c->node, "epsilon", 1e-5f);
    int vid;
    if ((st = ox_emit(c, KILN_OP_LAYERNORM, "", ids, 3, &a, &vid))) return st;
    if ((st = ox_set_act(c, 0, vid, perm))) return st;
    if (!ox_uses_output(c, 1) && !ox_uses_output(c, 2)) return KILN_OK;
    return mean_inv_std(c, ids[0], C, a.eps, perm);
}
