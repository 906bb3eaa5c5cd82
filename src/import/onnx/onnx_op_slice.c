/* Slice of a run-time tensor -> kiln's CROP (elements removed from the start/end of non-batch axes), step 1 only.
 * Slices of constants (shape subgraphs) are folded in onnx_fold.c before this converter is reached. */
#include <stdlib.h>
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

/* The elements idx[0..n) (in range) of logical axis `axis` of x, in that order: a CROP per run of consecutive
 * indices, concatenated (CONCAT takes up to KILN_MAX_NODE_INPUTS inputs: longer lists concatenate partial results).
 * *vid receives the result, x's perm unchanged, the axis now of size n. */
static kiln_status pick(ox_ctx *c, const ox_val *x, int axis, const int64_t *idx, int64_t n, int *vid)
{
    const int r = ox_rank(c, x), p = ox_phys_axis(x, r, axis);
    const int64_t size = ox_dim(c, x, axis);
    int *parts = malloc(sizeof(int) * (size_t)n), np = 0;
    if (!parts) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    kiln_status st = KILN_OK;
    kiln_attrs a;
    for (int64_t k = 0; k < n && !st;) {
        int64_t e = k + 1;
        while (e < n && idx[e] == idx[e - 1] + 1) e++;
        kiln_attrs_init(&a);
        a.rank = r + ox_virt(x);
        a.pads_begin[p] = (int32_t)idx[k];
        a.pads_end[p] = (int32_t)(size - idx[e - 1] - 1);
        parts[np] = x->vid;
        if (a.pads_begin[p] || a.pads_end[p]) st = ox_emit(c, KILN_OP_CROP, "crop", &x->vid, 1, &a, &parts[np]);
        np++;
        k = e;
    }
    while (!st && np > 1) { /* concatenate KILN_MAX_NODE_INPUTS at a time until one value is left */
        int m = 0;
        for (int i = 0; i < np && !st; i += KILN_MAX_NODE_INPUTS) {
            const int cnt = np - i < KILN_MAX_NODE_INPUTS ? np - i : KILN_MAX_NODE_INPUTS;
            kiln_attrs_init(&a);
            a.axis = p;
            if (cnt == 1) parts[m++] = parts[i];
            else st = ox_emit(c, KILN_OP_CONCAT, np <= KILN_MAX_NODE_INPUTS ? "" : "part", parts + i, cnt, &a,
                              &parts[m++]);
        }
        np = m;
    }
    if (!st) *vid = parts[0];
    free(parts);
    return st;
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
    a.rank = r + ox_virt(x);
    int any = 0, n_stepped = 0, stepped[OX_MAX_RANK];
    for (int k = 0; k < ns; k++) {
        int64_t ax = na >= 0 ? axes[k] : k;
        if (ax < 0) ax += r;
        if (ax < 0 || ax >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
        if (nt >= 0 && steps[k] == 0) return ox_fail(c, KILN_ERR_FORMAT, "step 0 on axis %lld", (long long)ax);
        if (nt >= 0 && steps[k] != 1) { /* other steps: picked element by element below */
            if (ax == x->perm[0]) return ox_fail_batch(c, "step %lld on the batch axis", (long long)steps[k]);
            stepped[n_stepped++] = k;
            continue;
        }
        const int64_t n = ox_dim(c, x, (int)ax);
        int64_t b = starts[k] < 0 ? starts[k] + n : starts[k], e = ends[k] < 0 ? ends[k] + n : ends[k];
        b = b < 0 ? 0 : b > n ? n : b;
        e = e < 0 ? 0 : e > n ? n : e;
        if (ax == x->perm[0]) { /* the batch: only a slice that keeps all of it (starts 0, ends >= the batch) */
            if (b == 0 && ends[k] >= n) continue;
            return ox_fail_batch(c, "slice of the batch axis");
        }
        if (e <= b) { /* an empty slice: a zero-length axis. ONNX allows empty tensors; kiln's kernels are not checked
                       * on them, so only as a result nothing else reads (a graph output: an empty array out) */
            int consumer_index = -1;
            if (ox_sole_consumer(c, c->node->output[0], &consumer_index) || ox_uses(c, c->node->output[0]) != 1)
                return ox_fail(c, KILN_ERR_UNSUPPORTED, "empty slice of axis %lld read by other nodes (kiln has empty "
                               "tensors only as graph outputs)", (long long)ax);
            e = b;
        }
        const int p = ox_phys_axis(x, r, (int)ax);
        a.pads_begin[p] = (int32_t)b;
        a.pads_end[p] = (int32_t)(n - e);
        any |= b != 0 || e != n;
    }
    int vid = x->vid;
    if (any && (st = ox_emit(c, KILN_OP_CROP, n_stepped ? "crop" : "", &x->vid, 1, &a, &vid))) return st;
    ox_val cur = *x;
    cur.rowperm = NULL;
    cur.vid = vid;
    for (int s = 0; s < n_stepped; s++) { /* steps other than 1: the elements start, start+step, ... in order */
        const int k = stepped[s];
        int64_t ax = na >= 0 ? axes[k] : k;
        if (ax < 0) ax += r;
        const int64_t n = ox_dim(c, &cur, (int)ax), step = steps[k];
        int64_t b = starts[k] < 0 ? starts[k] + n : starts[k], e = ends[k] < 0 ? ends[k] + n : ends[k];
        if (step > 0) {
            b = b < 0 ? 0 : b > n ? n : b;
            e = e < 0 ? 0 : e > n ? n : e;
        } else {
            b = b < 0 ? -1 : b > n - 1 ? n - 1 : b;
            e = e < -1 ? -1 : e > n - 1 ? n - 1 : e;
        }
        const int64_t count = step > 0 ? (e > b ? (e - b + step - 1) / step : 0) : (b > e ? (b - e - step - 1) / -step : 0);
        if (count < 1) return ox_fail(c, KILN_ERR_UNSUPPORTED, "empty slice of axis %lld", (long long)ax);
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)count);
        if (!idx) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
        for (int64_t i = 0; i < count; i++) idx[i] = b + i * step;
        st = pick(c, &cur, (int)ax, idx, count, &cur.vid);
        free(idx);
        if (st) return st;
    }
    return ox_set_act(c, 0, cur.vid, x->perm); /* x itself when nothing was removed */
}

/* Gather of a run-time tensor along a non-batch axis (any axis in fixed-shape mode) by constant indices: a scalar
 * index (e.g. a ViT's class token, x[:, 0]) is a CROP to that element and a RESHAPE dropping the axis; a 1-D list
 * the picked elements (CROPs of runs of consecutive indices, concatenated); N-D indices a RESHAPE of the 1-D case to
 * data[:axis] + indices + data[axis+1:]. Gathers of constants are folded before this converter is reached. */
kiln_status ox_op_gather(ox_ctx *c)
{
    const ox_val *x, *ind;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st || (st = ox_const_in(c, 1, "indices", &ind))) return st;
    const int r = ox_rank(c, x);
    int64_t axis = ox_attr_i(c->node, "axis", 0);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis out of range");
    if (axis == x->perm[0]) return ox_fail_batch(c, "gather along the batch axis");
    if (ind->numel < 1 || !ind->is_int) return ox_fail(c, KILN_ERR_UNSUPPORTED, "indices must be integers, not empty");
    const int64_t n = ox_dim(c, x, (int)axis);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)ind->numel);
    if (!idx) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    for (int64_t k = 0; k < ind->numel; k++) {
        idx[k] = ind->i[k] < 0 ? ind->i[k] + n : ind->i[k];
        if (idx[k] < 0 || idx[k] >= n) {
            free(idx);
            return ox_fail(c, KILN_ERR_FORMAT, "index %lld out of range", (long long)ind->i[k]);
        }
    }
    int vid;
    st = pick(c, x, (int)axis, idx, ind->numel, &vid);
    free(idx);
    if (st) return st;
    if (ind->rank == 1) return ox_set_act(c, 0, vid, x->perm);
    const int p = ox_phys_axis(x, r, (int)axis);
    if (ind->rank == 0) { /* scalar index: drop the (now size-1) axis */
        if (r < 2) return c->fixed ? ox_fail(c, KILN_ERR_UNSUPPORTED, "a scalar result")
                                   : ox_fail_batch(c, "the result would have no batch axis");
        int64_t dims[KILN_MAX_RANK];
        int perm[KILN_MAX_RANK];
        const int R = r + ox_virt(x);
        for (int q = 0, o = 0; q < R; q++) {
            if (q == p) continue;
            dims[o] = c->g->values[vid].dims[q];
            perm[o++] = x->perm[q] > axis ? x->perm[q] - 1 : x->perm[q];
        }
        if ((st = ox_reshape_phys(c, vid, R - 1, dims, "squeeze", &vid))) return st;
        return ox_set_act(c, 0, vid, perm);
    }
    /* N-D indices: data[:axis] + indices.shape + data[axis+1:] */
    const int out_r = r - 1 + ind->rank;
    if (out_r + c->fixed > KILN_MAX_RANK) return ox_fail(c, KILN_ERR_UNSUPPORTED, "result rank %d", out_r);
    int64_t dims[KILN_MAX_RANK];
    int o = 0;
    for (int a = 0; a < r; a++) {
        if (a != axis) {
            dims[o++] = ox_dim(c, x, a);
            continue;
        }
        for (int k = 0; k < ind->rank; k++) dims[o++] = ind->dims[k];
    }
    ox_val g = *x;
    g.rowperm = NULL;
    g.vid = vid;
    if (!c->fixed && x->perm[0] != 0) return ox_fail_batch(c, "gather with N-D indices of a tensor whose batch is "
                                                             "not its first axis");
    if ((st = ox_reshape(c, &g, out_r, dims, &vid))) return st;
    return ox_set_act(c, 0, vid, NULL);
}
