/* Shape-changing operators on run-time tensors: Reshape, Flatten, Squeeze/Unsqueeze, Transpose (a relabeling: no
 * data moves), Concat, Pad, ReduceMean/ReduceMax over two spatial axes (global pooling), Cast to float.
 * The batch axis must stay the first logical axis and keep its size; anything else is refused with a reason. */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* Integer list from a constant input i (newer opsets) or attribute `attr` (older). -1 when absent. */
static int int_list(ox_ctx *c, int i, const char *attr, int64_t *out, int cap, kiln_status *st)
{
    *st = KILN_OK;
    if (ox_has_in(c, i)) {
        const ox_val *v;
        if ((*st = ox_const_in(c, i, attr, &v))) return -1;
        for (int k = 0; k < v->numel && k < cap; k++) out[k] = v->is_int ? v->i[k] : (int64_t)v->f[k];
        return (int)v->numel;
    }
    return attr ? ox_attr_ints(c->node, attr, out, cap) : -1;
}

/* Is the only reader of this node's output a Gemm/MatMul taking it as A with constant weights B? */
static int feeds_dense(ox_ctx *c)
{
    int k;
    const Onnx__NodeProto *n = ox_sole_consumer(c, c->node->output[0], &k);
    if (!n || k != 0 || n->n_input < 2) return 0;
    int gemm = !strcmp(n->op_type, "Gemm");
    if (!gemm && strcmp(n->op_type, "MatMul")) return 0;
    if (gemm && ox_attr_i(n, "transA", 0)) return 0;
    const ox_val *w = ox_find(c, n->input[1]);
    return w && w->kind == OX_CONST && w->rank == 2;
}

/* [N, K] flattening of x left in x's physical order (a RESHAPE, no data moves); rowperm receives, per physical
 * feature, its logical index, for the Gemm/MatMul reading it to permute its weight rows. */
static kiln_status flatten_physical(ox_ctx *c, const ox_val *x, int64_t k)
{
    int r = ox_rank(c, x), vid;
    const kiln_value *kv = &c->g->values[x->vid];
    int64_t *rp = malloc(sizeof(int64_t) * (size_t)(k ? k : 1)), lstride[KILN_MAX_RANK], idx[KILN_MAX_RANK] = { 0 };
    if (!rp) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    int64_t s = 1;
    for (int a = r - 1; a >= 1; a--) {
        lstride[a] = s;
        s *= ox_dim(c, x, a);
    }
    for (int64_t j = 0; j < k; j++) {
        int64_t off = 0;
        for (int p = 1; p < r; p++) off += idx[p] * lstride[x->perm[p]];
        rp[j] = off;
        for (int p = r - 1; p >= 1; p--) {
            if (++idx[p] < kv->dims[p]) break;
            idx[p] = 0;
        }
    }
    int64_t dims[2] = { 1, k };
    kiln_status st = ox_reshape_phys(c, x->vid, 2, dims, "", &vid);
    if (!st) st = ox_set_act(c, 0, vid, NULL);
    ox_val *o = st ? NULL : ox_find(c, c->node->output[0]);
    if (o) o->rowperm = rp;
    else free(rp);
    return st;
}

/* Logical reshape to dims (dims[0] must be the batch); binds output 0. */
static kiln_status reshape_to(ox_ctx *c, const ox_val *x, int rank, const int64_t *dims)
{
    if (rank < 1) return ox_fail(c, KILN_ERR_UNSUPPORTED, "a scalar result (kiln tensors have at least one axis)");
    if (!c->fixed && dims[0] != c->batch)
        return ox_fail_batch(c, "the result's first axis (%lld) is not the batch (%lld): kiln keeps the batch axis",
                             (long long)dims[0], (long long)c->batch);
    int vid, id[KILN_MAX_RANK], r = ox_rank(c, x);
    ox_identity(c, id, r);
    if (rank == 2 && x->perm[0] == 0 && !x->rowperm && !ox_same_memory_order(c, x, id) && feeds_dense(c))
        return flatten_physical(c, x, dims[1]);
    kiln_status st = ox_reshape(c, x, rank, dims, &vid);
    if (st) return st;
    return ox_set_act(c, 0, vid, NULL);
}

kiln_status ox_op_reshape(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int64_t dims[KILN_MAX_RANK + 2];
    int n = c->opset >= 5 ? int_list(c, 1, "shape", dims, KILN_MAX_RANK + 2, &st)
                          : ox_attr_ints(c->node, "shape", dims, KILN_MAX_RANK + 2);
    if (st) return st;
    if (n < 1 || n > KILN_MAX_RANK - c->fixed) return ox_fail(c, KILN_ERR_UNSUPPORTED, "target rank %d", n);
    int r = ox_rank(c, x), infer = -1;
    int64_t total = 1, known = 1;
    for (int i = 0; i < r; i++) total *= ox_dim(c, x, i);
    for (int i = 0; i < n; i++) {
        if (dims[i] == 0 && !ox_attr_i(c->node, "allowzero", 0) && i < r) dims[i] = ox_dim(c, x, i);
        if (dims[i] == -1) {
            if (infer >= 0) return ox_fail(c, KILN_ERR_FORMAT, "two -1 in the shape");
            infer = i;
        } else if (dims[i] <= 0) {
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "zero-sized dimension in the shape");
        } else {
            known *= dims[i];
        }
    }
    if (infer >= 0) dims[infer] = known ? total / known : 0;
    return reshape_to(c, x, n, dims);
}

kiln_status ox_op_flatten(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int r = ox_rank(c, x);
    int64_t axis = ox_attr_i(c->node, "axis", 1), dims[2] = { 1, 1 };
    if (axis < 0) axis += r;
    for (int i = 0; i < r; i++) dims[i >= axis] *= ox_dim(c, x, i);
    return reshape_to(c, x, 2, dims);
}

kiln_status ox_op_squeeze(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int sq = c->node->op_type[0] == 'S', r = ox_rank(c, x), out_r = 0;
    int64_t axes[KILN_MAX_RANK + 2], dims[KILN_MAX_RANK + 2];
    int na = c->opset >= 13 ? int_list(c, 1, NULL, axes, KILN_MAX_RANK + 2, &st)
                             : ox_attr_ints(c->node, "axes", axes, KILN_MAX_RANK + 2);
    if (st) return st;
    if (!sq && na < 1) return ox_fail(c, KILN_ERR_FORMAT, "Unsqueeze without axes");
    int full = sq ? r : r + na;
    if (full > KILN_MAX_RANK + 2) return ox_fail(c, KILN_ERR_UNSUPPORTED, "rank too large");
    unsigned mark = 0;
    for (int k = 0; k < na; k++) {
        int64_t a = axes[k] < 0 ? axes[k] + full : axes[k];
        if (a < 0 || a >= full) return ox_fail(c, KILN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
        if (a == 0 && !c->fixed) return ox_fail_batch(c, "%s of axis 0, the batch axis", c->node->op_type);
        mark |= 1u << a;
    }
    if (sq) {
        for (int i = 0; i < r; i++) {
            int64_t d = ox_dim(c, x, i);
            int drop = na < 0 ? (i > 0 || c->fixed) && d == 1 : (int)(mark >> i & 1);
            if (drop && d != 1) return ox_fail(c, KILN_ERR_FORMAT, "squeezing axis %d of size %lld", i, (long long)d);
            if (!drop) dims[out_r++] = d;
        }
    } else {
        for (int i = 0, j = 0; i < full; i++) dims[out_r++] = (mark >> i & 1) ? 1 : ox_dim(c, x, j++);
    }
    return reshape_to(c, x, out_r, dims);
}

kiln_status ox_op_transpose(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int r = ox_rank(c, x), inv[KILN_MAX_RANK], out[KILN_MAX_RANK] = { 0 }, seen[KILN_MAX_RANK] = { 0 };
    int64_t p[KILN_MAX_RANK + 2];
    int np = ox_attr_ints(c->node, "perm", p, KILN_MAX_RANK + 2);
    if (np < 0)
        for (int i = 0; i < r; i++) p[i] = r - 1 - i;
    else if (np != r)
        return ox_fail(c, KILN_ERR_FORMAT, "perm has %d entries for rank %d", np, r);
    for (int j = 0; j < r; j++) {
        if (p[j] < 0 || p[j] >= r || seen[p[j]]++) return ox_fail(c, KILN_ERR_FORMAT, "perm is not a permutation");
        inv[p[j]] = j; /* output logical axis j is input logical axis p[j] */
    }
    for (int q = 0; q < r + ox_virt(x); q++) out[q] = x->perm[q] == OX_VIRTUAL ? OX_VIRTUAL : inv[x->perm[q]];
    return ox_set_act(c, 0, x->vid, out); /* relabel only: same kiln value */
}

/* Constant inputs of a Concat that lie before / after the run-time ones along `axis` (e.g. a ViT's class token,
 * Expand-ed to the batch by a folded shape subgraph): y = pad(concat(run-time inputs)) + K, where the PAD adds
 * zeros where the constants go and K holds the constants there and zeros elsewhere (x + 0 = x exactly). The constants
 * must not vary along the batch axis. vid: the concatenation of the run-time inputs, perm its perm. */
static kiln_status concat_constants(ox_ctx *c, int axis, int vid, const int *perm, int *out)
{
    const Onnx__NodeProto *n = c->node;
    ox_val act = { .name = "", .kind = OX_ACT, .vid = vid };
    memcpy(act.perm, perm, sizeof act.perm);
    const int r = ox_rank(c, &act);
    int64_t before = 0, after = 0, total = 0, mid = ox_dim(c, &act, axis);
    int seen_act = 0;
    for (int i = 0; i < (int)n->n_input; i++) {
        const ox_val *v = ox_has_in(c, i) ? ox_in(c, i) : NULL;
        if (!v) continue;
        if (v->kind == OX_ACT) {
            if (seen_act == 2) return ox_fail(c, KILN_ERR_UNSUPPORTED, "constant inputs between run-time ones");
            seen_act = 1;
            continue;
        }
        if (seen_act) seen_act = 2;
        if (v->rank != r) return ox_fail(c, KILN_ERR_FORMAT, "inputs differ in rank");
        for (int a = 0; a < r; a++)
            if (a != axis && v->dims[a] != (a == perm[0] ? 1 : ox_dim(c, &act, a)))
                return ox_fail(c, KILN_ERR_UNSUPPORTED, "constant '%s' has dim %lld on axis %d (kiln: the run-time "
                               "inputs' dims, 1 on the batch axis)", v->name, (long long)v->dims[a], a);
        *(seen_act ? &after : &before) += v->dims[axis];
    }
    total = before + mid + after;
    /* K: logical dims of the result with 1 on the batch axis; the constants' slabs copied in, zeros elsewhere */
    ox_val k = { .name = "concat_constants", .kind = OX_CONST, .rank = r };
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < r; a++) {
        k.dims[a] = a == axis ? total : a == perm[0] ? 1 : ox_dim(c, &act, a);
        if (a < axis) outer *= k.dims[a];
        if (a > axis) inner *= k.dims[a];
    }
    k.numel = outer * total * inner;
    k.f = calloc((size_t)(k.numel ? k.numel : 1), sizeof(float));
    if (!k.f) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    int64_t at = 0;
    kiln_status st = KILN_OK;
    for (int i = 0; i < (int)n->n_input && !st; i++) {
        const ox_val *v = ox_has_in(c, i) ? ox_in(c, i) : NULL;
        if (!v) continue;
        if (v->kind == OX_ACT) {
            at = before + mid;
            continue;
        }
        float *d = ox_const_floats(v);
        if (!d) {
            st = ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
            break;
        }
        const int64_t e = v->dims[axis];
        for (int64_t o = 0; o < outer; o++)
            memcpy(k.f + (o * total + at) * inner, d + o * e * inner, sizeof(float) * (size_t)(e * inner));
        free(d);
        at += e;
    }
    int ids[2];
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = r + ox_virt(&act);
    const int pa = ox_phys_axis(&act, r, axis);
    a.pads_begin[pa] = (int32_t)before;
    a.pads_end[pa] = (int32_t)after;
    if (!st) st = ox_emit(c, KILN_OP_PAD, "pad", &vid, 1, &a, &ids[0]);
    if (!st) st = ox_bcast_const(c, &k, &act, &ids[1]);
    free(k.f);
    if (!st) st = ox_emit(c, KILN_OP_ADD, "", ids, 2, NULL, out);
    return st;
}

kiln_status ox_op_concat(ox_ctx *c)
{
    int ids[KILN_MAX_NODE_INPUTS], n = 0, n_const = 0;
    const ox_val *first = NULL;
    kiln_status st;
    for (int i = 0; i < (int)c->node->n_input; i++) {
        if (!ox_has_in(c, i)) continue;
        const ox_val *v = ox_in(c, i);
        if (!v) return ox_fail(c, KILN_ERR_FORMAT, "input %d missing", i);
        if (v->kind == OX_CONST) { /* batch-broadcast constants: concat_constants */
            n_const++;
            continue;
        }
        if (n >= KILN_MAX_NODE_INPUTS) return ox_fail(c, KILN_ERR_UNSUPPORTED, "more than %d inputs", KILN_MAX_NODE_INPUTS);
        if (!first) first = v;
        else if (ox_rank(c, v) != ox_rank(c, first)) return ox_fail(c, KILN_ERR_FORMAT, "inputs differ in rank");
        if ((st = ox_to_perm(c, v, first->perm, &ids[n]))) return st;
        n++;
    }
    if (!first) return ox_fail(c, KILN_ERR_FORMAT, "no run-time input");
    int r = ox_rank(c, first);
    int64_t axis = ox_attr_i(c->node, "axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis out of range");
    if (axis == first->perm[0]) return ox_fail_batch(c, "concatenation along the batch axis");
    int perm[KILN_MAX_RANK], vid;
    memcpy(perm, first->perm, sizeof perm);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.axis = ox_phys_axis(first, r, (int)axis);
    if (n == 1 && n_const) vid = ids[0];
    else if ((st = ox_emit(c, KILN_OP_CONCAT, n_const ? "runtime" : "", ids, n, &a, &vid))) return st;
    if (n_const && (st = concat_constants(c, (int)axis, vid, perm, &vid))) return st;
    return ox_set_act(c, 0, vid, perm);
}

kiln_status ox_op_pad(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int r = ox_rank(c, x);
    int64_t pads[2 * KILN_MAX_RANK], axes[KILN_MAX_RANK];
    float value = 0.0f;
    int np, na = -1;
    if (c->opset < 11) {
        np = ox_attr_ints(c->node, c->opset < 2 ? "paddings" : "pads", pads, 2 * KILN_MAX_RANK);
        value = ox_attr_f(c->node, "value", 0.0f);
    } else {
        np = int_list(c, 1, "pads", pads, 2 * KILN_MAX_RANK, &st);
        if (st) return st;
        if (ox_has_in(c, 2)) {
            const ox_val *v;
            if ((st = ox_const_in(c, 2, "constant_value", &v))) return st;
            if (v->numel) value = v->is_int ? (float)v->i[0] : v->f[0];
        }
        if (ox_has_in(c, 3) && (na = int_list(c, 3, "axes", axes, KILN_MAX_RANK, &st)) < 0) return st;
    }
    int naxes = na >= 0 ? na : r;
    if (np != 2 * naxes) return ox_fail(c, KILN_ERR_FORMAT, "pads has %d values for %d axes", np, naxes);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = r + ox_virt(x);
    a.pad_value = value;
    for (int k = 0; k < naxes; k++) {
        int64_t ax = na >= 0 ? (axes[k] < 0 ? axes[k] + r : axes[k]) : k;
        if (ax < 0 || ax >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis out of range");
        if (pads[k] < 0 || pads[k + naxes] < 0) return ox_fail(c, KILN_ERR_UNSUPPORTED, "negative pads (cropping)");
        if (ax == x->perm[0] && (pads[k] || pads[k + naxes])) return ox_fail_batch(c, "padding the batch axis");
        int p = ox_phys_axis(x, r, (int)ax);
        a.pads_begin[p] = (int)pads[k];
        a.pads_end[p] = (int)pads[k + naxes];
    }
    int vid;
    if ((st = ox_emit(c, KILN_OP_PAD, "", &x->vid, 1, &a, &vid))) return st;
    return ox_set_act(c, 0, vid, x->perm);
}

/* ReduceMean / ReduceMax over non-batch axes = global average / max pooling. Two axes of a 4-D tensor map onto
 * kiln's pooling directly; any other set of axes is brought in front (physically [N, reduced..., kept...]), viewed as
 * [N, prod(reduced), 1, prod(kept)], pooled, and reshaped to the ONNX result. */
kiln_status ox_op_reduce(ox_ctx *c)
{
    const ox_val *x;
    kiln_status st = ox_act_in(c, 0, &x);
    if (st) return st;
    int r = ox_rank(c, x), mean = !strcmp(c->node->op_type, "ReduceMean");
    int64_t axes[KILN_MAX_RANK + 2];
    int na = c->opset >= 18 ? int_list(c, 1, NULL, axes, KILN_MAX_RANK + 2, &st)
                            : ox_attr_ints(c->node, "axes", axes, KILN_MAX_RANK + 2);
    if (st) return st;
    int keep = (int)ox_attr_i(c->node, "keepdims", 1);
    if (na <= 0 && ox_attr_i(c->node, "noop_with_empty_axes", 0)) return ox_op_identity(c);
    if (na <= 0 && !c->fixed) return ox_fail_batch(c, "reduction over every axis, the batch included");
    unsigned red = 0;
    if (na <= 0) red = (1u << r) - 1; /* fixed-shape mode: every axis */
    for (int k = 0; k < na; k++) {
        int64_t a = axes[k] < 0 ? axes[k] + r : axes[k];
        if (a < 0 || a >= r) return ox_fail(c, KILN_ERR_FORMAT, "axis %lld out of range", (long long)axes[k]);
        if (a == x->perm[0]) return ox_fail_batch(c, "reduction over the batch axis");
        red |= 1u << a;
    }
    kiln_op op = mean ? KILN_OP_GLOBAL_AVGPOOL : KILN_OP_GLOBAL_MAXPOOL;
    kiln_attrs a;
    kiln_attrs_init(&a);
    int target[KILN_MAX_RANK], nt = 0, in, vid;
    target[nt++] = x->perm[0];
    for (int i = 0; i < r; i++)
        if (red >> i & 1) target[nt++] = i;
    for (int i = 0; i < r; i++)
        if (!(red >> i & 1) && i != x->perm[0]) target[nt++] = i;
    if (r == 4 && __builtin_popcount(red) == 2 && !c->fixed) {
        if ((st = ox_to_perm(c, x, target, &in))) return st;
        a.keepdims = keep;
        if ((st = ox_emit(c, op, "", &in, 1, &a, &vid))) return st;
        if (keep) return ox_set_act(c, 0, vid, target);
        int b = target[0] < target[3] ? 0 : 1, out[2] = { b, 1 - b }; /* the batch and the kept axis, renumbered */
        return ox_set_act(c, 0, vid, out);
    }
    if (!c->fixed && x->perm[0] != 0) return ox_fail_batch(c, "reduction of a tensor whose batch is not first");
    int64_t nr = 1, nk = 1, view[4], dims[KILN_MAX_RANK];
    for (int i = c->fixed ? 0 : 1; i < r; i++) *((red >> i & 1) ? &nr : &nk) *= ox_dim(c, x, i);
    if ((st = ox_to_perm(c, x, target, &in))) return st;
    view[0] = 1, view[1] = nr, view[2] = 1, view[3] = nk;
    if ((st = ox_reshape_phys(c, in, 4, view, "view", &in))) return st;
    a.keepdims = 1;
    if ((st = ox_emit(c, op, "pool", &in, 1, &a, &vid))) return st;
    int out_r = 0;
    for (int i = 0; i < r; i++)
        if (!(red >> i & 1)) dims[out_r++] = ox_dim(c, x, i);
        else if (keep) dims[out_r++] = 1;
    if (out_r < 1) return ox_fail(c, KILN_ERR_UNSUPPORTED, "a scalar result (kiln tensors have at least one axis)");
    if (out_r < 2 && !c->fixed) /* [N]: kiln activations keep a feature axis; ONNX's [N] result is [N, 1] here */
        return ox_fail_batch(c, "the result would have the batch axis only");
    int64_t kd[KILN_MAX_RANK];
    const int kr = ox_kdims(c, out_r, dims, kd);
    if ((st = ox_reshape_phys(c, vid, kr, kd, "", &vid))) return st;
    return ox_set_act(c, 0, vid, NULL);
}

kiln_status ox_op_cast(ox_ctx *c)
{
    int64_t to = ox_attr_i(c->node, "to", OX_FLOAT);
    if (to != OX_FLOAT && to != OX_DOUBLE && to != OX_FLOAT16)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "cast of a run-time tensor to type %lld (kiln computes in float32)",
                       (long long)to);
    return ox_op_identity(c);
}
