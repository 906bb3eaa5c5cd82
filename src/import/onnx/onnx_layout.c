/* Logical (ONNX) vs physical (kiln) axis order of activations, and the few places where data must really move.
 *
 * An activation's kiln value stores its axes in physical order; perm[p] names the logical axis at physical axis p.
 * Physical axis 0 is always kiln's batch. Moving to another order costs nothing when only size-1 axes change place
 * (a RESHAPE, which the optimizer drops or which is a plain copy), else a TRANSPOSE node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

int ox_rank(const ox_ctx *c, const ox_val *v) { return v->kind == OX_ACT ? c->g->values[v->vid].rank : v->rank; }

int ox_phys_axis(const ox_val *v, int r, int axis)
{
    for (int p = 0; p < r; p++)
        if (v->perm[p] == axis) return p;
    return -1;
}

int64_t ox_dim(const ox_ctx *c, const ox_val *v, int axis)
{
    if (v->kind != OX_ACT) return v->dims[axis];
    int p = ox_phys_axis(v, ox_rank(c, v), axis);
    return p == 0 ? c->batch : c->g->values[v->vid].dims[p];
}

void ox_identity(int *perm, int r)
{
    for (int i = 0; i < r; i++) perm[i] = i;
}

void ox_channels_last(int *perm, int r)
{
    perm[0] = 0;
    for (int i = 1; i < r - 1; i++) perm[i] = i + 1;
    if (r > 1) perm[r - 1] = 1;
}

/* Same element order in memory: the axes that are not size 1 (the batch always counts) come in the same order. */
int ox_same_memory_order(const ox_ctx *c, const ox_val *v, const int *target, int r)
{
    const kiln_value *kv = &c->g->values[v->vid];
    int a[KILN_MAX_RANK], b[KILN_MAX_RANK], na = 0, nb = 0;
    for (int p = 0; p < r; p++)
        if (p == 0 || kv->dims[p] != 1) a[na++] = v->perm[p];
    for (int p = 0; p < r; p++) {
        int at = ox_phys_axis(v, r, target[p]);
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
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "the result would move the batch axis (logical axis %d is kiln's "
                       "batch): kiln keeps the batch first", v->perm[0]);
    int64_t dims[KILN_MAX_RANK];
    int q[KILN_MAX_RANK];
    for (int p = 0; p < r; p++) {
        q[p] = ox_phys_axis(v, r, target[p]);
        dims[p] = kv->dims[q[p]];
    }
    if (ox_same_memory_order(c, v, target, r)) return ox_reshape_phys(c, v->vid, r, dims, "relayout", vid);
    kiln_attrs at;
    kiln_attrs_init(&at);
    at.rank = r;
    for (int p = 0; p < r; p++) at.perm[p] = q[p];
    return ox_emit(c, KILN_OP_TRANSPOSE, "transpose", &v->vid, 1, &at, vid);
}

kiln_status ox_reshape(ox_ctx *c, const ox_val *v, int rank, const int64_t *dims, int *vid)
{
    int r = ox_rank(c, v), id[KILN_MAX_RANK];
    if (v->perm[0] != 0)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "reshaping a tensor whose batch is not its first axis");
    if (rank < 1 || rank > KILN_MAX_RANK)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "result rank %d is outside 1..%d", rank, KILN_MAX_RANK);
    ox_identity(id, r);
    int src = v->vid;
    if (!ox_same_memory_order(c, v, id, r)) {
        kiln_status st = ox_to_perm(c, v, id, &src);
        if (st) return st;
    }
    const kiln_value *kv = &c->g->values[src];
    int same = kv->rank == rank;
    for (int i = 1; same && i < rank; i++) same = kv->dims[i] == dims[i];
    if (same && src != v->vid) {
        *vid = src;
        return KILN_OK;
    }
    return ox_reshape_phys(c, src, rank, dims, "", vid);
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
    if (k->rank > r)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "constant '%s' has more axes (%d) than the tensor it combines with "
                       "(%d)", k->name, k->rank, r);
    int64_t ldims[KILN_MAX_RANK] = { 0 }, pdims[KILN_MAX_RANK];
    for (int a = 0; a < r; a++) ldims[a] = a < r - k->rank ? 1 : k->dims[a - (r - k->rank)];
    if (ldims[act->perm[0]] != 1)
        return ox_fail(c, KILN_ERR_UNSUPPORTED, "constant '%s' varies along the batch axis (kiln runs any batch "
                       "with the same weights)", k->name);
    for (int p = 0; p < r; p++) pdims[p] = ldims[act->perm[p]];
    float *src = ox_const_floats(k), *dst = malloc(sizeof(float) * (size_t)(k->numel ? k->numel : 1));
    if (!src || !dst) {
        free(src);
        free(dst);
        return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    }
    permute_data(src, ldims, r, act->perm, dst);
    free(src);
    char suffix[300];
    snprintf(suffix, sizeof suffix, "%s", k->name[0] ? k->name : "const");
    *id = kiln_graph_add_constant(c->g, suffix, r, pdims, dst);
    if (*id < 0) return ox_fail(c, KILN_ERR_NO_MEMORY, "cannot add constant '%s'", k->name);
    return KILN_OK;
}
