/* Logical (ONNX) vs physical (kiln) axis order of activations, and the few places where data must really move.
 *
 * An activation's kiln value stores its axes in physical order; perm[p] names the logical axis at physical axis p.
 * Physical axis 0 is always kiln's batch (in fixed-shape mode the virtual size-1 axis, perm[0] = OX_VIRTUAL). Moving to another order costs nothing when only size-1 axes change place
 * (a RESHAPE, which the optimizer drops or which is a plain copy), else a TRANSPOSE node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

int ox_virt(const ox_val *v) { return v->kind == OX_ACT && v->perm[0] == OX_VIRTUAL; }

int ox_rank(const ox_ctx *c, const ox_val *v)
{
    return v->kind == OX_ACT ? c->g->values[v->vid].rank - ox_virt(v) : v->rank;
}

int ox_phys_axis(const ox_val *v, int r, int axis)
{
    const int b = ox_virt(v);
    for (int p = b; p < r + b; p++)
        if (v->perm[p] == axis) return p;
    return -1;
}

/* Physical position of perm entry `axis` (OX_VIRTUAL included) among the R physical axes. */
static int find_phys(const ox_val *v, int R, int axis)
{
    for (int p = 0; p < R; p++)
        if (v->perm[p] == axis) return p;
    return -1;
}

int64_t ox_dim(const ox_ctx *c, const ox_val *v, int axis)
{
    if (v->kind != OX_ACT) return v->dims[axis];
    int p = ox_phys_axis(v, ox_rank(c, v), axis);
    if (p < 0) return 1;
    return p == 0 ? c->batch : c->g->values[v->vid].dims[p];
}

void ox_identity(const ox_ctx *c, int *perm, int r)
{
    const int b = c->fixed ? 1 : 0;
    if (b) perm[0] = OX_VIRTUAL;
    for (int i = 0; i < r; i++) perm[b + i] = i;
}

int ox_kdims(const ox_ctx *c, int rank, const int64_t *dims, int64_t *kdims)
{
    const int b = c->fixed ? 1 : 0;
    if (b) kdims[0] = 1;
    for (int i = 0; i < rank && b + i < KILN_MAX_RANK; i++) kdims[b + i] = dims[i];
    return rank + b;
}

void ox_channels_last_batched(int *perm, int r)
{
    perm[0] = 0;
    for (int i = 1; i < r - 1; i++) perm[i] = i + 1;
    if (r > 1) perm[r - 1] = 1;
}

void ox_channels_last(const ox_ctx *c, int *perm, int r)
{
    if (c->fixed) perm[0] = OX_VIRTUAL;
    ox_channels_last_batched(perm + (c->fixed ? 1 : 0), r);
}

/* Same element order in memory: the axes that are not size 1 (physical 0, the batch, always counts) come in the
 * same order. target: kiln rank entries. */
int ox_same_memory_order(const ox_ctx *c, const ox_val *v, const int *target)
{
    const kiln_value *kv = &c->g->values[v->vid];
    const int R = kv->rank;
    int a[KILN_MAX_RANK], b[KILN_MAX_RANK], na = 0, nb = 0;
    for (int p = 0; p < R; p++)
        if (p == 0 || kv->dims[p] != 1) a[na++] = v->perm[p];
    for (int p = 0; p < R; p++) {
        int at = find_phys(v, R, target[p]);
        if (at < 0) return 0;
        if (at == 0 || kv->dims[at] != 1) b[nb++] = target[p];
    }
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

kiln_status ox_reshape_phys(ox_ctx *c, int vid, int r, const int64_t *dims, const char *suffix, int *out)
{
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.rank = r - 1;
    for (int i = 1; i < r; i++) at.shape[i - 1] = dims[i];
    return ox_emit(c, KILN_OP_RESHAPE, suffix, &vid, 1, &at, out);
}

kiln_status ox_to_perm(ox_ctx *c, const ox_val *v, const int *target, int *vid)
{
    const kiln_value *kv = &c->g->values[v->vid];
    int r = kv->rank;
    if (!memcmp(v->perm, target, sizeof(int) * (size_t)r)) {
        *vid = v->vid;
        return KILN_OK;
    }
    if (target[0] != v->perm[0])
        return ox_fail_batch(c, "the result would move the batch axis (logical axis %d is kiln's batch): kiln keeps "
                             "the batch first", v->perm[0]);
    int64_t dims[KILN_MAX_RANK];
    int q[KILN_MAX_RANK];
    for (int p = 0; p < r; p++) {
        q[p] = find_phys(v, r, target[p]);
        if (q[p] < 0) return ox_fail(c, KILN_ERR_INTERNAL, "layout: axis %d not found", target[p]);
        dims[p] = kv->dims[q[p]];
    }
    if (ox_same_memory_order(c, v, target)) return ox_reshape_phys(c, v->vid, r, dims, "relayout", vid);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.rank = r;
    for (int p = 0; p < r; p++) at.perm[p] = q[p];
    return ox_emit(c, KILN_OP_TRANSPOSE, "transpose", &v->vid, 1, &at, vid);
}

kiln_status ox_to_batched(ox_ctx *c, const ox_val *v, const int *target, int *vid)
{
    if (!ox_virt(v)) return ox_to_perm(c, v, target, vid);
    const int r = ox_rank(c, v);
    const int64_t n = ox_dim(c, v, target[0]);
    if (n != 1)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "fixed-shape mode: %s with batch %lld (ONNX axis %d): kiln runs this "
                       "operator on its run-time batch axis, which is 1 in a fixed-shape engine", c->node->op_type,
                       (long long)n, target[0]);
    int t[KILN_MAX_RANK], in;
    t[0] = OX_VIRTUAL;
    memcpy(t + 1, target, sizeof(int) * (size_t)r);
    kiln_status st = ox_to_perm(c, v, t, &in);
    if (st) return st;
    return ox_reshape_phys(c, in, r, c->g->values[in].dims + 1, "drop_virtual", vid);
}

kiln_status ox_set_batched(ox_ctx *c, int out_index, int vid, const int *perm)
{
    if (!c->fixed) return ox_set_act(c, out_index, vid, perm);
    const kiln_value *kv = &c->g->values[vid];
    const int r = kv->rank;
    if (r + 1 > KILN_MAX_RANK) return ox_fail(c, KILN_ERR_UNSUPPORTED, "fixed-shape mode: rank %d is too large", r);
    int64_t d[KILN_MAX_RANK];
    int p[KILN_MAX_RANK], out;
    d[0] = 1;
    memcpy(d + 1, kv->dims, sizeof(int64_t) * (size_t)r);
    d[1] = 1; /* the batch of a fixed-shape engine's run */
    p[0] = OX_VIRTUAL;
    memcpy(p + 1, perm, sizeof(int) * (size_t)r);
    kiln_status st = ox_reshape_phys(c, vid, r + 1, d, "add_virtual", &out);
    return st ? st : ox_set_act(c, out_index, out, p);
}

kiln_status ox_reshape(ox_ctx *c, const ox_val *v, int rank, const int64_t *dims, int *vid)
{
    int r = ox_rank(c, v), id[KILN_MAX_RANK];
    if (!c->fixed && v->perm[0] != 0)
        return ox_fail_batch(c, "reshaping a tensor whose batch is not its first axis");
    if (rank < 1 || rank + c->fixed > KILN_MAX_RANK)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "result rank %d is outside 1..%d", rank, KILN_MAX_RANK - c->fixed);
    ox_identity(c, id, r);
    int src = v->vid;
    if (!ox_same_memory_order(c, v, id)) {
        kiln_status st = ox_to_perm(c, v, id, &src);
        if (st) return st;
    }
    int64_t kd[KILN_MAX_RANK];
    const int kr = ox_kdims(c, rank, dims, kd);
    const kiln_value *kv = &c->g->values[src];
    int same = kv->rank == kr;
    for (int i = 1; same && i < kr; i++) same = kv->dims[i] == kd[i];
    if (same && src != v->vid) {
        *vid = src;
        return KILN_OK;
    }
    return ox_reshape_phys(c, src, kr, kd, "", vid);
}

/* dst[physical] = src[logical]: physical axis p holds logical axis perm[p]; ldims are the logical dims. */
static void permute_data(const float *src, const int64_t *ldims, int r, const int *perm, float *dst)
{
    int64_t lstride[KILN_MAX_RANK], pdims[KILN_MAX_RANK], idx[KILN_MAX_RANK] = { 0 }, n = 1;
    int64_t s = 1;
    for (int a = r - 1; a >= 0; a--) {
        lstride[a] = s;
        s *= ldims[a];
    }
    for (int p = 0; p < r; p++) {
        pdims[p] = ldims[perm[p]];
        n *= pdims[p];
    }
    for (int64_t o = 0; o < n; o++) {
        int64_t off = 0;
        for (int p = 0; p < r; p++) off += idx[p] * lstride[perm[p]];
        dst[o] = src[off];
        for (int p = r - 1; p >= 0; p--) {
            if (++idx[p] < pdims[p]) break;
            idx[p] = 0;
        }
    }
}

kiln_status ox_bcast_const(ox_ctx *c, const ox_val *k, const ox_val *act, int *id)
{
    int r = ox_rank(c, act);
    const int b = ox_virt(act);
    if (k->rank > r)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "constant '%s' has more axes (%d) than the tensor it combines with "
                       "(%d)", k->name, k->rank, r);
    int64_t ldims[KILN_MAX_RANK] = { 0 }, pdims[KILN_MAX_RANK];
    for (int a = 0; a < r; a++) ldims[a] = a < r - k->rank ? 1 : k->dims[a - (r - k->rank)];
    if (!b && ldims[act->perm[0]] != 1)
        return ox_fail_batch(c, "constant '%s' varies along the batch axis (kiln runs any batch with the same "
                             "weights)", k->name);
    if (b) pdims[0] = 1;
    for (int p = 0; p < r; p++) pdims[b + p] = ldims[act->perm[b + p]];
    float *src = ox_const_floats(k), *dst = malloc(sizeof(float) * (size_t)(k->numel ? k->numel : 1));
    if (!src || !dst) {
        free(src);
        free(dst);
        return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    }
    permute_data(src, ldims, r, act->perm + b, dst);
    free(src);
    char suffix[300];
    snprintf(suffix, sizeof suffix, "%s", k->name[0] ? k->name : "const");
    *id = kiln_graph_add_constant(c->g, suffix, r + b, pdims, dst);
    if (*id < 0) return ox_fail(c, KILN_ERR_NO_MEMORY, "cannot add constant '%s'", k->name);
    return KILN_OK;
}
