/* Gemm and MatMul with constant weights -> kiln Dense (x[..., K] W[K, N] + b over the last axis). */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* Dense over the last logical axis of x; weights w[K*N] (row-major [K, N]), bias b[N] or NULL. */
static kiln_status dense(ox_ctx *c, const ox_val *x, int64_t k, int64_t n, const float *w, const float *b)
{
    int r = ox_rank(c, x), ids[3], vid;
    int perm[KILN_MAX_RANK];
    kiln_status st;
    if (ox_dim(c, x, r - 1) != k)
        return ox_fail(c, KILN_ERR_FORMAT, "input has %lld features, the weights expect %lld",
                       (long long)ox_dim(c, x, r - 1), (long long)k);
    if (x->perm[r - 1] == r - 1) {
        memcpy(perm, x->perm, sizeof perm);
        ids[0] = x->vid;
    } else {
        ox_identity(perm, r);
        if ((st = ox_to_perm(c, x, perm, &ids[0]))) return st;
    }
    int64_t wd[2] = { k, n };
    if (x->rowperm) { /* features in physical order (a flattened NCHW tensor): permute the weight rows instead */
        float *pw = malloc(sizeof(float) * (size_t)(k * n > 0 ? k * n : 1));
        if (!pw) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        for (int64_t j = 0; j < k; j++) memcpy(pw + j * n, w + x->rowperm[j] * n, sizeof(float) * (size_t)n);
        st = ox_kconst(c, "weights", 2, wd, pw, &ids[1]);
        free(pw);
        if (st) return st;
    } else if ((st = ox_kconst(c, "weights", 2, wd, w, &ids[1]))) {
        return st;
    }
    if (b && (st = ox_kconst(c, "bias", 1, &n, b, &ids[2]))) return st;
    if ((st = ox_emit(c, KILN_OP_DENSE, "", ids, b ? 3 : 2, NULL, &vid))) return st;
    return ox_set_act(c, 0, vid, perm);
}

kiln_status ox_op_gemm(ox_ctx *c)
{
    const ox_val *x, *bw, *bc = NULL;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st || (st = ox_const_in(c, 1, "B", &bw))) return st;
    if (ox_has_in(c, 2) && (st = ox_const_in(c, 2, "C", &bc))) return st;
    if (ox_rank(c, x) != 2 || bw->rank != 2) return ox_fail(c, KILN_ERR_FORMAT, "Gemm needs 2-D A and B");
    int tb = (int)ox_attr_i(c->node, "transB", 0);
    float alpha = ox_attr_f(c->node, "alpha", 1.0f), beta = ox_attr_f(c->node, "beta", 1.0f);
    int64_t k = tb ? bw->dims[1] : bw->dims[0], n = tb ? bw->dims[0] : bw->dims[1];
    if (bc && bc->numel != n && bc->numel != 1)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "C of shape with %lld values: kiln supports a bias of N=%lld values "
                       "or a scalar (C varying per row would vary along the batch)", (long long)bc->numel, (long long)n);
    float *src = ox_const_floats(bw), *w = malloc(sizeof(float) * (size_t)(k * n > 0 ? k * n : 1));
    float *b = bc ? malloc(sizeof(float) * (size_t)(n ? n : 1)) : NULL;
    if (!src || !w || (bc && !b)) {
        free(src);
        free(w);
        free(b);
        return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    }
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n; j++) w[i * n + j] = alpha * (tb ? src[j * k + i] : src[i * n + j]);
    for (int64_t j = 0; b && j < n; j++)
        b[j] = beta * (bc->is_int ? (float)bc->i[bc->numel == 1 ? 0 : j] : bc->f[bc->numel == 1 ? 0 : j]);
    st = dense(c, x, k, n, w, b);
    free(src);
    free(w);
    free(b);
    return st;
}

kiln_status ox_op_matmul(ox_ctx *c)
{
    const ox_val *x = ox_in(c, 0), *w = ox_in(c, 1);
    if (!x || !w) return ox_fail(c, KILN_ERR_FORMAT, "MatMul needs two inputs");
    if (x->kind != OX_ACT || w->kind != OX_CONST)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "kiln supports MatMul of a run-time tensor by constant weights "
                       "(A x W), not %s x %s", x->kind == OX_ACT ? "tensor" : "constant",
                       w->kind == OX_ACT ? "tensor" : "constant");
    if (w->rank != 2 || ox_rank(c, x) < 2)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "weights must be 2-D and the input at least 2-D (here %d-D x %d-D)",
                       ox_rank(c, x), w->rank);
    float *wd = ox_const_floats(w);
    if (!wd) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    kiln_status st = dense(c, x, w->dims[0], w->dims[1], wd, NULL);
    free(wd);
    return st;
}
