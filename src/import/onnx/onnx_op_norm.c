/* LayerNormalization over the axes from `axis` on -> kiln's LAYERNORM (the Keras importer's op: mean/variance over
 * the last physical axis of each position; several normalized axes are flattened into one). The optional Mean and
 * InvStdDev outputs are computed by extra Dense/Sub/Mul nodes (only when used). */
#include <stdlib.h>
#include <string.h>

#include "../../core/act.h"
#include "onnx_internal.h"

/* Constant of the P = prod(shape[0..n)) floats of scale/bias k broadcast (right-aligned) to the normalized shape,
 * or dflt everywhere when k is absent; *id receives it. */
static kiln_status per_channel(ox_ctx *c, const ox_val *k, float dflt, const int64_t *shape, int n, const char *suffix,
                               int *id)
{
    int64_t P = 1;
    for (int i = 0; i < n; i++) P *= shape[i];
    if (k && k->rank > n)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "%s has more axes than the normalized ones", suffix);
    for (int i = 0; k && i < k->rank; i++)
        if (k->dims[k->rank - 1 - i] != 1 && k->dims[k->rank - 1 - i] != shape[n - 1 - i])
            return ox_fail(c, KILN_ERR_FORMAT, "%s does not broadcast to the normalized axes", suffix);
    float *d = malloc(sizeof(float) * (size_t)P);
    if (!d) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    for (int64_t p = 0; p < P; p++) {
        if (!k) {
            d[p] = dflt;
            continue;
        }
        int64_t rest = p, off = 0, stride = 1;
        for (int i = 0; i < n; i++) { /* from the last normalized axis */
            const int64_t coord = rest % shape[n - 1 - i];
            rest /= shape[n - 1 - i];
            if (i < k->rank) {
                const int64_t kd = k->dims[k->rank - 1 - i];
                off += (kd == 1 ? 0 : coord) * stride;
                stride *= kd;
            }
        }
        d[p] = k->is_int ? (float)k->i[off] : k->f[off];
    }
    kiln_status st = ox_kconst(c, suffix, 1, &P, d, id);
    free(d);
    return st;
}

static int ox_uses_output(const ox_ctx *c, int i)
{
    return i < (int)c->node->n_output && c->node->output[i] && c->node->output[i][0];
}

/* The optional Mean and InvStdDev outputs ([..., 1]) of x (kiln value xid, last axis of C values):
 *   mean = x W (W = [C,1] of 1/C: a Dense over the last axis), inv = pow((x - mean)^2 W + eps, -0.5).
 * vids[0], vids[1] receive them (-1 when not used). */
static kiln_status mean_inv_std(ox_ctx *c, int xid, int64_t C, float eps, int *vids)
{
    vids[0] = vids[1] = -1;
    float *w = malloc(sizeof(float) * (size_t)C);
    if (!w) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < C; i++) w[i] = 1.0f / (float)C;
    int64_t wd[2] = { C, 1 }, one = 1;
    int ids[3] = { xid, -1, -1 }, mean, centered, sq;
    kiln_attrs a;
    kiln_attrs_init(&a);
    kiln_status st = ox_kconst(c, "mean_weights", 2, wd, w, &ids[1]);
    if (!st) st = ox_emit(c, KILN_OP_DENSE, "mean", ids, 2, &a, &mean);
    if (!st) vids[0] = mean;
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
    if (!st) st = ox_emit(c, KILN_OP_DENSE, "inv_std_dev", ids, 3, &a, &vids[1]);
    free(w);
    return st;
}

/* Bind output i to kiln value vid of physical dims [..., P] (`flat`), reshaped to logical dims when the normalized
 * axes were flattened, else with perm. */
static kiln_status bind(ox_ctx *c, int i, int vid, int flat, int r, const int64_t *dims, const int *perm)
{
    if (!flat) return ox_set_act(c, i, vid, perm);
    int out;
    int64_t kd[KILN_MAX_RANK];
    const int kr = ox_kdims(c, r, dims, kd);
    kiln_status st = ox_reshape_phys(c, vid, kr, kd, i ? (i == 1 ? "mean_shape" : "inv_std_dev_shape") : "shape",
                                     &out);
    return st ? st : ox_set_act(c, i, out, NULL);
}

/* LayerNormalization over the axes from `axis` on. kiln's LAYERNORM normalizes the last physical axis: one
 * normalized axis (others of size 1) runs on x as stored; several are flattened into one (logical order, which may
 * take a Transpose) and the results reshaped back. Scale/B: constants broadcast to the normalized shape. */
kiln_status ox_op_layernorm(ox_ctx *c)
{
    const ox_val *x, *scale, *bias = NULL;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    const int r = ox_rank(c, x);
    int64_t axis = ox_attr_i(c->node, "axis", -1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis out of range");
    if (x->perm[0] >= axis) return ox_fail_batch(c, "layer normalization over the batch axis");
    /* Scale/B broadcast to the normalized axes, which exclude the batch: a run-time tensor (it has the batch) can't,
     * except in fixed-shape mode (then applied by a Mul and an Add after the normalization) */
    const ox_val *rt_scale = c->fixed && ox_in(c, 1) && ox_in(c, 1)->kind == OX_ACT ? ox_in(c, 1) : NULL;
    const ox_val *rt_bias = c->fixed && ox_has_in(c, 2) && ox_in(c, 2) && ox_in(c, 2)->kind == OX_ACT ? ox_in(c, 2) : NULL;
    scale = NULL;
    if (!rt_scale && (st = ox_const_in(c, 1, "Scale", &scale))) return st;
    if (!rt_bias && ox_has_in(c, 2) && (st = ox_const_in(c, 2, "B", &bias))) return st;
    int64_t ldims[KILN_MAX_RANK], shape[KILN_MAX_RANK], P = 1;
    int big = 0;
    for (int i = 0; i < r; i++) ldims[i] = ox_dim(c, x, i);
    for (int64_t i = axis; i < r; i++) shape[i - axis] = ldims[i], P *= ldims[i], big += ldims[i] != 1 && i < r - 1;
    const int n = (int)(r - axis), flat = big > 0;
    int ids[3], perm[OX_MAX_RANK];
    ox_identity(c, perm, r);
    if (flat) { /* [d0 .. d(axis-1), P] in logical order */
        int64_t fd[KILN_MAX_RANK];
        for (int i = 0; i < axis; i++) fd[i] = ldims[i];
        fd[axis] = P;
        if ((st = ox_reshape(c, x, (int)axis + 1, fd, &ids[0]))) return st;
    } else if (x->perm[r - 1 + c->fixed] == r - 1) { /* the logical last axis is already the physical last one */
        ids[0] = x->vid;
        memcpy(perm, x->perm, sizeof(int) * (size_t)(r + c->fixed));
    } else if ((st = ox_to_perm(c, x, perm, &ids[0]))) { /* e.g. the W axis of an NCHW tensor stored NHWC */
        return st;
    }
    if ((st = per_channel(c, scale, 1.0f, shape, n, "scale", &ids[1]))) return st;
    if ((st = per_channel(c, bias, 0.0f, shape, n, "bias", &ids[2]))) return st;
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.eps = ox_attr_f(c->node, "epsilon", 1e-5f);
    int vid, stats[2] = { -1, -1 };
    if ((st = ox_emit(c, KILN_OP_LAYERNORM, "", ids, 3, &a, &vid))) return st;
    if ((ox_uses_output(c, 1) || ox_uses_output(c, 2)) && (st = mean_inv_std(c, ids[0], P, a.eps, stats))) return st;
    if ((st = bind(c, 0, vid, flat, r, ldims, perm))) return st;
    for (int i = 0; i < 2; i++) { /* fixed-shape mode: run-time Scale / B */
        const ox_val *k = i ? rt_bias : rt_scale;
        if (!k) continue;
        ox_val y = *ox_find(c, c->node->output[0]);
        int yid, yperm[KILN_MAX_RANK];
        if ((st = ox_binary(c, i ? KILN_OP_ADD : KILN_OP_MUL, &y, k, i ? "bias" : "scale", &yid, yperm))) return st;
        if ((st = ox_set_act(c, 0, yid, yperm))) return st;
    }
    int64_t sdims[KILN_MAX_RANK];
    for (int i = 0; i < r; i++) sdims[i] = i < axis ? ldims[i] : 1;
    for (int i = 0; i < 2; i++)
        if (stats[i] >= 0 && (st = bind(c, i + 1, stats[i], flat, r, sdims, perm))) return st;
    return KILN_OK;
}
