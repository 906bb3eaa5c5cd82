/* Slice of a run-time tensor -> kiln's CROP (elements removed from the start/end of non-batch axes), step 1 only.
 * Slices of constants (shape subgraphs) are folded in onnx_fold.c before this converter is reached. */
#include <string.h>

#include "onnx_internal.h"

/* Up to cap integers from constant input i (opset >= 10) or attribute `attr` (opset < 10); -1 when absent. */
static int slice_ints(ox_ctx *c, int i, const char *attr, int64_t *out, int cap, kiln_status *st)
{
    *st = KILN_OK;
    if (c->opset < 10) return attr ? ox_attr_ints(c->node, attr, out, cap) : -1;
    if (!ox_has_in(c, i)) return -1;
    const ox_val *v;
    if ((*st = ox_const_in(c, i, i == 1 ? "starts" : i == 2 ? "ends" : i == 3 ? "axes" : "steps", &v))) return -1;
    if (v->numel > cap) {
        *st = ox_fail(c, KILN_ERR_UNSUPPORTED, "more than %d sliced axes", cap);
        return -1;
    }
    for (int64_t k = 0; k < v->numel; k++) out[k] = v->is_int ? v->i[k] : (int64_t)v->f[k];
    return (int)v->numel;
}

kiln_status ox_op_slice(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    const int r = ox_rank(c, x);
    int64_t starts[OX_MAX_RANK], ends[OX_MAX_RANK], axes[OX_MAX_RANK], steps[OX_MAX_RANK];
    const int ns = slice_ints(c, 1, "starts", starts, OX_MAX_RANK, &st);
    if (st) return st;
    const int ne = slice_ints(c, 2, "ends", ends, OX_MAX_RANK, &st);
    if (st) return st;
    const int na = slice_ints(c, 3, "axes", axes, OX_MAX_RANK, &st);
    if (st) return st;
    const int nt = slice_ints(c, 4, NULL, steps, OX_MAX_RANK, &st);
    if (st) return st;
    if (ns < 0 || ns != ne || ns > r || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
        return ox_fail(c, KILN_ERR_FORMAT, "starts/ends/axes/steps of different lengths");
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = r;
    int any = 0;
    for (int k = 0; k < ns; k++) {
        int64_t ax = na >= 0 ? axes[k] : k;
        if (ax < 0) ax += r;
        if (ax < 0 || ax >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
        if (nt >= 0 && steps[k] != 1)
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "step %lld on axis %lld: only step 1 on run-time tensors",
                           (long long)steps[k], (long long)ax);
        const int64_t n = ox_dim(c, x, (int)ax);
        int64_t b = starts[k] < 0 ? starts[k] + n : starts[k], e = ends[k] < 0 ? ends[k] + n : ends[k];
        b = b < 0 ? 0 : b > n ? n : b;
        e = e < 0 ? 0 : e > n ? n : e;
        if (ax == x->perm[0]) { /* the batch: only a slice that keeps all of it (starts 0, ends >= the batch) */
            if (b == 0 && ends[k] >= n) continue;
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "slice of the batch axis");
        }
        if (e <= b) return ox_fail(c, KILN_ERR_UNSUPPORTED, "empty slice of axis %lld", (long long)ax);
        const int p = ox_phys_axis(x, r, (int)ax);
        a.pads_begin[p] = (int32_t)b;
        a.pads_end[p] = (int32_t)(n - e);
        any |= b != 0 || e != n;
    }
    if (!any) return ox_set_act(c, 0, x->vid, x->perm); /* nothing removed */
    int vid;
    if ((st = ox_emit(c, KILN_OP_CROP, "", &x->vid, 1, &a, &vid))) return st;
    return ox_set_act(c, 0, vid, x->perm);
}

/* Gather of a run-time tensor along a non-batch axis by constant indices: a scalar index (e.g. a ViT's class token,
 * x[:, 0]) is a CROP to that element and a RESHAPE dropping the axis; a 1-D run of consecutive indices is a CROP.
 * Other index patterns are refused. Gathers of constants are folded before this converter is reached. */
kiln_status ox_op_gather(ox_ctx *c)
{
    const ox_val *x, *ind;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st || (st = ox_const_in(c, 1, "indices", &ind))) return st;
    const int r = ox_rank(c, x);
    int64_t axis = ox_attr_i(c->node, "axis", 0);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis out of range");
    if (axis == x->perm[0]) return ox_fail(c, KILN_ERR_UNSUPPORTED, "gather along the batch axis");
    if (ind->rank > 1 || ind->numel < 1 || !ind->is_int)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "indices must be an integer scalar or 1-D list");
    const int64_t n = ox_dim(c, x, (int)axis);
    int64_t first = ind->i[0] < 0 ? ind->i[0] + n : ind->i[0];
    for (int64_t k = 0; k < ind->numel; k++) {
        const int64_t v = ind->i[k] < 0 ? ind->i[k] + n : ind->i[k];
        if (v < 0 || v >= n) return ox_fail(c, KILN_ERR_FORMAT, "index %lld out of range", (long long)ind->i[k]);
        if (v != first + k) return ox_fail(c, KILN_ERR_UNSUPPORTED, "indices that are not a run of consecutive values");
    }
    const int p = ox_phys_axis(x, r, (int)axis);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = r;
    a.pads_begin[p] = (int32_t)first;
    a.pads_end[p] = (int32_t)(n - first - ind->numel);
    int vid = x->vid;
    if ((a.pads_begin[p] || a.pads_end[p]) && (st = ox_emit(c, KILN_OP_CROP, "", &x->vid, 1, &a, &vid))) return st;
    if (ind->rank == 1) return ox_set_act(c, 0, vid, x->perm);
    if (r < 2) return ox_fail(c, KILN_ERR_UNSUPPORTED, "the result would have no batch axis");
    /* scalar index: drop the (now size-1) axis */
    int64_t dims[KILN_MAX_RANK];
    int perm[KILN_MAX_RANK];
    for (int q = 0, o = 0; q < r; q++) {
        if (q == p) continue;
        dims[o] = c->g->values[vid].dims[q];
        perm[o++] = x->perm[q] > axis ? x->perm[q] - 1 : x->perm[q];
    }
    if ((st = ox_reshape_phys(c, vid, r - 1, dims, "squeeze", &vid))) return st;
    return ox_set_act(c, 0, vid, perm);
}
