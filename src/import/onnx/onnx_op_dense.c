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
    memcpy(perm, x->perm, sizeof perm);
    const int R = r + ox_virt(x); /* physical rank */
    if (x->perm[R - 1] == r - 1) {
        ids[0] = x->vid;
    } else { /* move the logical last axis to the physical end, the other axes (the batch first) staying in order */
        for (int p = 0, q = 0; p < R; p++)
            if (x->perm[p] != r - 1) perm[q++] = x->perm[p];
        perm[R - 1] = r - 1;
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

static kiln_status gemm_matrix_c(ox_ctx *c, const ox_val *x, const ox_val *bw, int tb, float alpha, const ox_val *cs);

kiln_status ox_op_gemm(ox_ctx *c)
{
    const ox_val *x, *bw, *bc = NULL;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st || (st = ox_const_in(c, 1, "B", &bw))) return st;
    if (ox_has_in(c, 2) && (st = ox_const_in(c, 2, "C", &bc))) return st;
    if (ox_rank(c, x) != 2 || bw->rank != 2) return ox_fail(c, KILN_ERR_FORMAT, "Gemm needs 2-D A and B");
    ox_val xt;
    if (ox_attr_i(c->node, "transA", 0)) { /* A^T: swap the two logical axes (a relabeling; dense() moves data) */
        if (!c->fixed) return ox_fail_batch(c, "transA=1 (the activation's rows are its samples)");
        xt = *x;
        xt.rowperm = NULL;
        for (int p = 1; p < 3; p++) xt.perm[p] = 1 - x->perm[p];
        x = &xt;
    }
    int tb = (int)ox_attr_i(c->node, "transB", 0);
    float alpha = ox_attr_f(c->node, "alpha", 1.0f), beta = ox_attr_f(c->node, "beta", 1.0f);
    int64_t k = tb ? bw->dims[1] : bw->dims[0], n = tb ? bw->dims[0] : bw->dims[1];
    if (bc && bc->numel != n && bc->numel != 1) {
        if (!c->fixed)
            return ox_fail_batch(c, "C of shape with %lld values: kiln supports a bias of N=%lld values or a scalar "
                                 "(C varying per row would vary along the batch)", (long long)bc->numel, (long long)n);
        /* fixed-shape mode: y = dense(A, alpha B) + beta C, C broadcast over [M, N] */
        ox_val cs = *bc;
        cs.is_int = 0;
        cs.i = NULL;
        cs.f = ox_const_floats(bc);
        if (!cs.f) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        for (int64_t j = 0; j < cs.numel; j++) cs.f[j] *= beta;
        st = gemm_matrix_c(c, x, bw, tb, alpha, &cs);
        free(cs.f);
        return st;
    }
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

/* Gemm whose C is a matrix (fixed-shape mode): Dense without bias, then Add of the broadcast constant cs (beta
 * applied). */
static kiln_status gemm_matrix_c(ox_ctx *c, const ox_val *x, const ox_val *bw, int tb, float alpha, const ox_val *cs)
{
    int64_t k = tb ? bw->dims[1] : bw->dims[0], n = tb ? bw->dims[0] : bw->dims[1];
    float *src = ox_const_floats(bw), *w = malloc(sizeof(float) * (size_t)(k * n > 0 ? k * n : 1));
    if (!src || !w) {
        free(src);
        free(w);
        return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    }
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n; j++) w[i * n + j] = alpha * (tb ? src[j * k + i] : src[i * n + j]);
    kiln_status st = dense(c, x, k, n, w, NULL);
    free(src);
    free(w);
    if (st) return st;
    const ox_val *y = ox_find(c, c->node->output[0]);
    ox_val yv = *y;
    int vid, perm[KILN_MAX_RANK];
    if ((st = ox_binary(c, KILN_OP_ADD, &yv, cs, "c", &vid, perm))) return st;
    return ox_set_act(c, 0, vid, perm);
}

/* Kiln value of MatMul operand v in logical axis order: an activation brought to identity perm, a constant added. */
static kiln_status matmul_operand(ox_ctx *c, const ox_val *v, const char *suffix, int *id)
{
    if (v->kind == OX_CONST) {
        float *d = ox_const_floats(v);
        if (!d) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        kiln_status st = ox_kconst(c, suffix, v->rank, v->dims, d, id);
        free(d);
        return st;
    }
    int perm[KILN_MAX_RANK];
    ox_identity(c, perm, ox_rank(c, v));
    return ox_to_perm(c, v, perm, id);
}

/* Fixed-shape mode, a 1-D run-time operand (NumPy matmul): x[K] is read as [1, K] (w[K] as [K, 1]), the product
 * taken, and the added axis dropped from the result. */
static kiln_status matmul_vector(ox_ctx *c, const ox_val *x, const ox_val *w)
{
    const int xv = x->kind == OX_ACT && ox_rank(c, x) == 1;
    const ox_val *v = xv ? x : w, *other = xv ? w : x;
    if (ox_rank(c, other) < 2) return ox_fail(c, KILN_ERR_UNSUPPORTED, "two 1-D operands (a dot product)");
    /* [1, ..., 1, K] (or [..., K, 1]) with as many axes as the other operand: the activation carries the result's
     * leading axes (kiln's MATMUL wants its activations at the result's rank) */
    const int L = ox_rank(c, other);
    const int64_t K = ox_dim(c, v, 0);
    int64_t dl[KILN_MAX_RANK];
    for (int i = 0; i < L; i++) dl[i] = 1;
    dl[xv ? L - 1 : L - 2] = K;
    int vid, ids[2], out;
    kiln_status st = ox_reshape(c, v, L, dl, &vid);
    if (st) return st;
    ox_val m = *v;
    m.rowperm = NULL;
    m.vid = vid;
    ox_identity(c, m.perm, L);
    const ox_val *a = xv ? &m : x, *b = xv ? w : &m;
    if ((st = matmul_operand(c, a, "a", &ids[0])) || (st = matmul_operand(c, b, "b", &ids[1]))) return st;
    if ((st = ox_emit(c, KILN_OP_MATMUL, "matmul", ids, 2, NULL, &out))) return st;
    /* result [..., M, N] with the unit axis at -2 (x was 1-D) or -1 (w was 1-D): drop it */
    const kiln_value *kv = &c->g->values[out];
    int64_t dims[KILN_MAX_RANK];
    int r = 0;
    for (int i = 1; i < kv->rank; i++)
        if (i != (xv ? kv->rank - 2 : kv->rank - 1)) dims[r++] = kv->dims[i];
    if (r < 1) return ox_fail(c, KILN_ERR_UNSUPPORTED, "the result would be a scalar");
    ox_val o = { .name = "", .kind = OX_ACT, .vid = out };
    ox_identity(c, o.perm, kv->rank - 1);
    if ((st = ox_reshape(c, &o, r, dims, &vid))) return st;
    return ox_set_act(c, 0, vid, NULL);
}

/* MatMul. A run-time tensor by constant 2-D weights is a Dense (the common case: fused with a following bias Add);
 * by a constant vector, a Dense of one unit whose last axis is then dropped; anything else (two run-time tensors,
 * constant batched weights) the MATMUL op with NumPy broadcasting of the leading axes. 1-D run-time operands are
 * refused: their only axis is kiln's batch, and MatMul would contract it. */
kiln_status ox_op_matmul(ox_ctx *c)
{
    const ox_val *x = ox_in(c, 0), *w = ox_in(c, 1);
    if (!x || !w) return ox_fail(c, KILN_ERR_FORMAT, "MatMul needs two inputs");
    const int rx = ox_rank(c, x), rw = ox_rank(c, w);
    kiln_status st;
    if ((x->kind == OX_ACT && rx < 2) || (w->kind == OX_ACT && rw < 2)) {
        if (!c->fixed)
            return ox_fail_batch(c, "a 1-D run-time operand (%d-D x %d-D): MatMul would contract its only axis, "
                                 "kiln's batch", rx, rw);
        return matmul_vector(c, x, w);
    }
    if (x->kind == OX_ACT && w->kind == OX_CONST && w->rank <= 2) {
        float *wd = ox_const_floats(w);
        if (!wd) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        st = dense(c, x, w->dims[0], w->rank == 2 ? w->dims[1] : 1, wd, NULL);
        free(wd);
        if (st || w->rank == 2) return st;
        /* x[..., K] . w[K] = [...]: drop the unit axis the Dense left */
        const ox_val *y = ox_find(c, c->node->output[0]);
        int64_t dims[KILN_MAX_RANK];
        for (int a = 0; a < rx - 1; a++) dims[a] = ox_dim(c, y, a);
        int vid;
        if ((st = ox_reshape(c, y, rx - 1, dims, &vid))) return st;
        return ox_set_act(c, 0, vid, NULL);
    }
    if (x->kind == OX_CONST && rx < 2)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "a 1-D constant first operand");
    const ox_val *k = x->kind == OX_CONST ? x : w->kind == OX_CONST ? w : NULL;
    if (!c->fixed && k && k->rank >= (rx > rw ? rx : rw) && k->dims[0] != 1)
        return ox_fail_batch(c, "constant '%s' varies along the batch axis (kiln runs any batch with the same "
                             "weights)", k->name);
    int ids[2], vid;
    ox_val lx, lw;
    if (c->fixed) { /* activations lifted to the result's rank (leading 1s): kiln's MATMUL takes its leading axes
                     * from an activation of the result's rank */
        const int L = rx > rw ? rx : rw;
        const ox_val *ops[2] = { x, w };
        ox_val *lifted[2] = { &lx, &lw };
        for (int i = 0; i < 2; i++) {
            const ox_val *v = ops[i];
            const int rv = ox_rank(c, v);
            if (v->kind != OX_ACT || rv == L) continue;
            int64_t dl[KILN_MAX_RANK];
            for (int a = 0; a < L; a++) dl[a] = a < L - rv ? 1 : ox_dim(c, v, a - (L - rv));
            *lifted[i] = *v;
            lifted[i]->rowperm = NULL;
            if ((st = ox_reshape(c, v, L, dl, &lifted[i]->vid))) return st;
            ox_identity(c, lifted[i]->perm, L);
            if (i == 0) x = &lx;
            else w = &lw;
        }
    }
    if ((st = matmul_operand(c, x, "a", &ids[0])) || (st = matmul_operand(c, w, "b", &ids[1]))) return st;
    if ((st = ox_emit(c, KILN_OP_MATMUL, "", ids, 2, NULL, &vid))) return st;
    return ox_set_act(c, 0, vid, NULL);
}
