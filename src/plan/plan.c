#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "../core/status.h"

static int64_t align_up(int64_t x) { return (x + KILN_PLAN_ALIGN - 1) / KILN_PLAN_ALIGN * KILN_PLAN_ALIGN; }

int64_t kiln_plan_value_bytes(const kiln_value *v, int batch)
{
    return align_up(kiln_value_numel(v) * (int64_t)batch * (int64_t)sizeof(float));
}

typedef struct {
    int64_t lo, hi;
} span;

static int by_lo(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Best-fit placement of the buffers in the given order: each goes into the smallest gap between already-placed
 * buffers whose lifetimes overlap its own, else on top of them all. Returns the arena size. */
static int64_t place_in_order(const kiln_plan_buffer *bufs, int n, const int *order, int64_t *offsets, int *placed,
                              span *busy)
{
    int n_placed = 0;
    int64_t arena = 0;
    for (int oi = 0; oi < n; oi++) {
        const kiln_plan_buffer *b = &bufs[order[oi]];
        int nb = 0;
        for (int k = 0; k < n_placed; k++) {
            const kiln_plan_buffer *o = &bufs[placed[k]];
            if (o->first <= b->last && b->first <= o->last)
                busy[nb++] = (span){ offsets[placed[k]], offsets[placed[k]] + o->size };
        }
        qsort(busy, (size_t)nb, sizeof(span), by_lo);
        int64_t best = -1, best_gap = INT64_MAX, top = 0;
        for (int k = 0; k < nb; k++) {
            int64_t gap = busy[k].lo - top;
            if (gap >= b->size && gap < best_gap) {
                best = top;
                best_gap = gap;
            }
            if (busy[k].hi > top) top = busy[k].hi;
        }
        offsets[order[oi]] = best >= 0 ? best : top;
        if (offsets[order[oi]] + b->size > arena) arena = offsets[order[oi]] + b->size;
        placed[n_placed++] = order[oi];
    }
    return arena;
}

/* Orders tried: 0 largest first (earlier birth first among equals), 1 longest-lived first, 2 by birth (the order a
 * runtime allocator would see). Insertion sorts over indices: qsort's comparator takes no context, and graphs have
 * at most a few thousand planned values. */
static int before(const kiln_plan_buffer *x, const kiln_plan_buffer *y, int how)
{
    if (how == 1) {
        int64_t lx = x->last - x->first, ly = y->last - y->first;
        if (lx != ly) return lx > ly;
    } else if (how == 2) {
        if (x->first != y->first) return x->first < y->first;
    } else if (how == 3) {
        if (x->last != y->last) return x->last > y->last;
    } else if (how == 4) {
        int64_t ax = x->size * (x->last - x->first + 1), ay = y->size * (y->last - y->first + 1);
        if (ax != ay) return ax > ay;
    }
    if (x->size != y->size) return x->size > y->size;
    return x->first < y->first;
}

int64_t kiln_plan_place(const kiln_plan_buffer *bufs, int n, int64_t *offsets)
{
    int *order = malloc(sizeof(int) * (size_t)(n + 1));
    int *placed = malloc(sizeof(int) * (size_t)(n + 1));
    span *busy = malloc(sizeof(span) * (size_t)(n + 1));
    int64_t *trial = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!order || !placed || !busy || !trial) {
        free(order); free(placed); free(busy); free(trial);
        return -1;
    }
    /* Several greedy orders, keep the smallest arena (ties: the first order, largest first). */
    int64_t arena = -1;
    for (int how = 0; how < 5; how++) {
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = 1; i < n; i++) {
            int k = order[i], j = i - 1;
            while (j >= 0 && before(&bufs[k], &bufs[order[j]], how)) {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = k;
        }
        int64_t a = place_in_order(bufs, n, order, trial, placed, busy);
        if (arena < 0 || a < arena) {
            arena = a;
            memcpy(offsets, trial, sizeof(int64_t) * (size_t)n);
        }
    }
    free(order);
    free(placed);
    free(busy);
    free(trial);
    return arena;
}

int64_t kiln_plan_lower_bound(const kiln_plan_buffer *bufs, int n)
{
    int32_t steps = 0;
    for (int i = 0; i < n; i++)
        if (bufs[i].last + 1 > steps) steps = bufs[i].last + 1;
    int64_t best = 0;
    for (int32_t t = 0; t < steps; t++) {
        int64_t live = 0;
        for (int i = 0; i < n; i++)
            if (bufs[i].first <= t && t <= bufs[i].last) live += bufs[i].size;
        if (live > best) best = live;
    }
    return best;
}

kiln_status kiln_plan_memory(const kiln_graph *g, int batch, int64_t *value_offset, int64_t *arena_bytes,
                             int64_t *sum_bytes)
{
    int nv = g->n_values;
    kiln_plan_buffer *bufs = malloc(sizeof(kiln_plan_buffer) * (size_t)(nv + 1));
    int *buf_value = malloc(sizeof(int) * (size_t)(nv + 1));
    int *buf_of = malloc(sizeof(int) * (size_t)(nv + 1));
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)(nv + 1));
    if (!bufs || !buf_value || !buf_of || !offs) {
        free(bufs); free(buf_value); free(buf_of); free(offs);
        return kiln_fail(KILN_ERR_NO_MEMORY, "memory planner: out of memory");
    }
    for (int v = 0; v < nv; v++) buf_of[v] = -1;
    for (int i = 0; i < g->n_inputs; i++) buf_of[g->inputs[i]] = -2;
    for (int i = 0; i < g->n_outputs; i++) buf_of[g->outputs[i]] = -2;
    int nb = 0;
    int64_t sum = 0;
    /* Birth: the producing step. */
    for (int i = 0; i < g->n_nodes; i++) {
        int v = g->nodes[i].output;
        if (buf_of[v] != -1 || g->values[v].kind != KILN_VALUE_ACTIVATION) continue;
        bufs[nb] = (kiln_plan_buffer){ kiln_plan_value_bytes(&g->values[v], batch), i, i };
        sum += bufs[nb].size;
        buf_value[nb] = v;
        buf_of[v] = nb++;
    }
    /* Death: the last reading step. */
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int b = buf_of[g->nodes[i].inputs[j]];
            if (b >= 0 && i > bufs[b].last) bufs[b].last = i;
        }
    int64_t arena = kiln_plan_place(bufs, nb, offs);
    if (arena < 0) {
        free(bufs); free(buf_value); free(buf_of); free(offs);
        return kiln_fail(KILN_ERR_NO_MEMORY, "memory planner: out of memory");
    }
    for (int v = 0; v < nv; v++) value_offset[v] = -1;
    for (int b = 0; b < nb; b++) value_offset[buf_value[b]] = offs[b];
    *arena_bytes = arena;
    if (sum_bytes) *sum_bytes = sum;
    free(bufs);
    free(buf_value);
    free(buf_of);
    free(offs);
    return KILN_OK;
}

/* ---- the full planner: views (slices, concat elimination), in-place aliases, lower bound ---- */

int kiln_plan_op_reads_pitch(int op, int slot)
{
    switch (op) {
    case KILN_OP_CONV2D: return slot == 0;
    case KILN_OP_MAXPOOL:
    case KILN_OP_AVGPOOL:
    case KILN_OP_GLOBAL_AVGPOOL:
    case KILN_OP_GLOBAL_MAXPOOL:
    case KILN_OP_SLICE:
    case KILN_OP_CONCAT: return 1;
    default: return 0;
    }
}

int kiln_plan_op_writes_pitch(int op)
{
    return op == KILN_OP_CONV2D || op == KILN_OP_MAXPOOL || op == KILN_OP_AVGPOOL || op == KILN_OP_SLICE ||
           op == KILN_OP_CONCAT;
}

int64_t kiln_plan_span_bytes(const kiln_value *v, int batch, int64_t pitch)
{
    int64_t c = v->dims[v->rank - 1], numel = kiln_value_numel(v) * (int64_t)batch;
    if (!pitch || pitch == c) return numel * (int64_t)sizeof(float);
    return ((numel / c - 1) * pitch + c) * (int64_t)sizeof(float);
}

/* Planner state: union-find over values with channel offsets relative to the parent. */
typedef struct {
    const kiln_graph *g;
    int32_t *parent;
    int64_t *off;     /* channel offset of v relative to parent[v] */
    uint8_t *pinned;  /* graph input/output or constant: not planned */
    int32_t *last;    /* last reading step of each value, -1 if none */
} planner;

static int find(planner *P, int v, int64_t *off)
{
    int64_t o = 0;
    while (P->parent[v] != v) {
        o += P->off[v];
        v = P->parent[v];
    }
    if (off) *off = o;
    return v;
}

/* Make value a a member of b's buffer with off(a) = off(b) + delta. Returns 0, or -1 when already linked otherwise. */
static int link(planner *P, int a, int b, int64_t delta)
{
    int64_t oa, ob;
    int ra = find(P, a, &oa), rb = find(P, b, &ob);
    if (ra == rb) return oa == ob + delta ? 0 : -1;
    /* off(ra) relative to rb: off(a) = off(ra) + oa must equal ob + delta */
    P->parent[ra] = rb;
    P->off[ra] = ob + delta - oa;
    return 0;
}

static int64_t chans(const kiln_value *v) { return v->dims[v->rank - 1]; }

/* Check every buffer with views: pitch-aware readers/writers for members narrower than the buffer, and real writers
 * (not Slice/Concat) on disjoint channel ranges. */
static int views_valid(planner *P)
{
    const kiln_graph *g = P->g;
    int nv = g->n_values;
    int64_t *lo = malloc(sizeof(int64_t) * (size_t)nv), *hi = malloc(sizeof(int64_t) * (size_t)nv);
    int ok = lo && hi;
    for (int v = 0; ok && v < nv; v++) lo[v] = INT64_MAX, hi[v] = INT64_MIN;
    for (int v = 0; ok && v < nv; v++) {
        if (P->pinned[v] || g->values[v].kind != KILN_VALUE_ACTIVATION) continue;
        int64_t o;
        int r = find(P, v, &o);
        if (o < lo[r]) lo[r] = o;
        if (o + chans(&g->values[v]) > hi[r]) hi[r] = o + chans(&g->values[v]);
    }
    for (int v = 0; ok && v < nv; v++) {
        if (P->pinned[v] || g->values[v].kind != KILN_VALUE_ACTIVATION) continue;
        int64_t o;
        int r = find(P, v, &o);
        if (hi[r] - lo[r] == chans(&g->values[v])) continue; /* dense */
        if (g->values[v].rank != 4) ok = 0;
        int p = g->values[v].producer;
        if (p < 0 || !kiln_plan_op_writes_pitch(g->nodes[p].op)) ok = 0;
        for (int i = 0; ok && i < g->n_nodes; i++)
            for (int j = 0; j < g->nodes[i].n_inputs; j++)
                if (g->nodes[i].inputs[j] == v && !kiln_plan_op_reads_pitch(g->nodes[i].op, j)) ok = 0;
        /* real writers: disjoint ranges */
        if (!ok || g->nodes[p].op == KILN_OP_SLICE || g->nodes[p].op == KILN_OP_CONCAT) continue;
        for (int w = v + 1; ok && w < nv; w++) {
            if (P->pinned[w] || g->values[w].kind != KILN_VALUE_ACTIVATION) continue;
            int q = g->values[w].producer;
            if (q < 0 || g->nodes[q].op == KILN_OP_SLICE || g->nodes[q].op == KILN_OP_CONCAT) continue;
            int64_t ow;
            if (find(P, w, &ow) != r) continue;
            if (o < ow + chans(&g->values[w]) && ow < o + chans(&g->values[v])) ok = 0;
        }
    }
    free(lo);
    free(hi);
    return ok;
}

static int is_elementwise_in_place(const kiln_graph *g, const kiln_node *n, int slot)
{
    const kiln_value *x = &g->values[n->inputs[slot]], *y = &g->values[n->output];
    int same = x->rank == y->rank && x->kind == KILN_VALUE_ACTIVATION;
    for (int d = 1; same && d < y->rank; d++) same = x->dims[d] == y->dims[d];
    if (!same) return 0;
    switch (n->op) {
    case KILN_OP_ACTIVATION:
    case KILN_OP_BATCHNORM:
    case KILN_OP_SQUEEZE_EXCITE: return slot == 0;
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
    case KILN_OP_MAX:
    case KILN_OP_MIN: return slot < 2;
    default: return 0;
    }
}

kiln_status kiln_plan_memory_full(const kiln_graph *g, int batch, int eliminate_concat, int in_place,
                                  int64_t *value_offset, int64_t *value_pitch, kiln_plan_stats *stats)
{
    return kiln_plan_memory_groups(g, batch, eliminate_concat, in_place, NULL, NULL, NULL, value_offset, value_pitch,
                                   stats);
}

kiln_status kiln_plan_memory_groups(const kiln_graph *g, int batch, int eliminate_concat, int in_place,
                                    const int32_t *band_first, const int32_t *band_last, const uint8_t *res_in_place,
                                    int64_t *value_offset, int64_t *value_pitch, kiln_plan_stats *stats)
{
    if (!band_first || !band_last) band_first = band_last = NULL;
    int nv = g->n_values;
    kiln_plan_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    planner P = { g, malloc(sizeof(int32_t) * (size_t)(nv + 1)), malloc(sizeof(int64_t) * (size_t)(nv + 1)),
                  calloc((size_t)nv + 1, 1), malloc(sizeof(int32_t) * (size_t)(nv + 1)) };
    int32_t *save_parent = malloc(sizeof(int32_t) * (size_t)(nv + 1));
    int64_t *save_off = malloc(sizeof(int64_t) * (size_t)(nv + 1));
    int32_t *buf_of = malloc(sizeof(int32_t) * (size_t)(nv + 1));
    int64_t *lo = malloc(sizeof(int64_t) * (size_t)(nv + 1)), *hi = malloc(sizeof(int64_t) * (size_t)(nv + 1));
    uint8_t *alias_root = calloc((size_t)nv + 1, 1);
    kiln_plan_buffer *bufs = malloc(sizeof(kiln_plan_buffer) * (size_t)(nv + 1));
    int64_t *boff = malloc(sizeof(int64_t) * (size_t)(nv + 1));
    kiln_status st = KILN_OK;
    if (!P.parent || !P.off || !P.pinned || !P.last || !save_parent || !save_off || !buf_of || !lo || !hi ||
        !alias_root || !bufs || !boff) {
        st = kiln_fail(KILN_ERR_NO_MEMORY, "memory planner: out of memory");
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        P.parent[v] = v;
        P.off[v] = 0;
        P.last[v] = -1;
        P.pinned[v] = g->values[v].kind != KILN_VALUE_ACTIVATION;
    }
    for (int i = 0; i < g->n_inputs; i++) P.pinned[g->inputs[i]] = 1;
    for (int i = 0; i < g->n_outputs; i++) P.pinned[g->outputs[i]] = 1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) P.last[g->nodes[i].inputs[j]] = i;

    /* Views: slices always, concats when asked; each tried on its own and undone when the buffer comes out invalid. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < g->n_nodes; i++) {
            const kiln_node *n = &g->nodes[i];
            int is_slice = n->op == KILN_OP_SLICE, is_concat = n->op == KILN_OP_CONCAT;
            if ((pass == 0 && !is_slice) || (pass == 1 && (!is_concat || !eliminate_concat))) continue;
            const kiln_value *y = &g->values[n->output];
            if (P.pinned[n->output] || y->rank != 4 || n->attrs.axis != 3) continue;
            memcpy(save_parent, P.parent, sizeof(int32_t) * (size_t)nv);
            memcpy(save_off, P.off, sizeof(int64_t) * (size_t)nv);
            int ok = 1;
            if (is_slice) {
                ok = !P.pinned[n->inputs[0]] && !link(&P, n->output, n->inputs[0], n->attrs.pads_begin[3]);
            } else {
                int64_t at = 0;
                for (int j = 0; ok && j < n->n_inputs; j++) {
                    int x = n->inputs[j];
                    for (int k = 0; k < j; k++) ok &= n->inputs[k] != x;
                    ok = ok && !P.pinned[x] && !link(&P, x, n->output, at);
                    at += chans(&g->values[x]);
                }
            }
            if (ok) ok = views_valid(&P);
            if (!ok) {
                memcpy(P.parent, save_parent, sizeof(int32_t) * (size_t)nv);
                memcpy(P.off, save_off, sizeof(int64_t) * (size_t)nv);
            }
            if (is_slice) ok ? stats->slices_in_place++ : stats->slice_copies++;
            else ok ? stats->concats_in_place++ : stats->concat_copies++;
        }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == KILN_OP_CONCAT && (!eliminate_concat || g->values[g->nodes[i].output].rank != 4 ||
                                                 g->nodes[i].attrs.axis != 3 || P.pinned[g->nodes[i].output]))
            stats->concat_copies++;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == KILN_OP_SLICE && (P.pinned[g->nodes[i].output] || g->nodes[i].attrs.axis != 3 ||
                                                g->values[g->nodes[i].output].rank != 4))
            stats->slice_copies++;

    /* Channel extent of every view buffer. */
    for (int v = 0; v < nv; v++) lo[v] = INT64_MAX, hi[v] = INT64_MIN;
    for (int v = 0; v < nv; v++) {
        if (P.pinned[v]) continue;
        int64_t o;
        int r = find(&P, v, &o);
        if (o < lo[r]) lo[r] = o;
        if (o + chans(&g->values[v]) > hi[r]) hi[r] = o + chans(&g->values[v]);
    }
    /* A value alone in a dense buffer may share bytes with another such value (alias_root marks those buffers). */
    for (int v = 0; v < nv; v++)
        if (!P.pinned[v] && P.parent[v] == v && hi[v] - lo[v] == chans(&g->values[v])) {
            int alone = 1;
            for (int w = 0; w < nv && alone; w++) alone = w == v || P.pinned[w] || find(&P, w, NULL) != v;
            alias_root[v] = (uint8_t)alone;
        }
    if (in_place) {
        /* last reading step of a whole alias buffer = max over its members (members are all at offset 0) */
        for (int i = 0; i < g->n_nodes; i++) {
            const kiln_node *n = &g->nodes[i];
            int y = n->output;
            if (P.pinned[y] || !alias_root[y] || P.parent[y] != y) continue;
            if (band_first && band_first[i] != band_last[i]) continue; /* its group reads x after it writes y */
            int is_copy = n->op == KILN_OP_RESHAPE || n->op == KILN_OP_IDENTITY;
            /* slots 0, 1 (elementwise ops, copies), then 3 (a conv's residual, where its kernel allows) */
            const int res_slot = res_in_place && res_in_place[i] && n->op == KILN_OP_CONV2D && n->n_inputs > 3;
            for (int si = 0; si < 3; si++) {
                const int slot = si < 2 ? si : 3;
                if (slot >= n->n_inputs || (slot == 3 && !res_slot)) continue;
                int x = n->inputs[slot];
                if (P.pinned[x]) continue;
                int rx = find(&P, x, NULL);
                if (!alias_root[rx]) continue;
                if (kiln_plan_value_bytes(&g->values[x], batch) != kiln_plan_value_bytes(&g->values[y], batch))
                    continue;
                if (!is_copy) {
                    if (slot < 3 && !is_elementwise_in_place(g, n, slot)) continue;
                    /* a conv reads its other inputs' rows at other places than it writes: none may share the
                     * residual's buffer (y = conv(x) + x) */
                    int shared = 0;
                    for (int k = 0; slot == 3 && k < 3 && k < n->n_inputs; k++)
                        shared |= !P.pinned[n->inputs[k]] && find(&P, n->inputs[k], NULL) == rx;
                    if (shared) continue;
                    int dies = 1; /* nobody reads any member of x's buffer after this node */
                    for (int w = 0; w < nv && dies; w++)
                        if (!P.pinned[w] && find(&P, w, NULL) == rx && P.last[w] > i) dies = 0;
                    /* both operands the same buffer: y = x + x is fine (same index), kept simple: allowed */
                    if (!dies) continue;
                } else if (slot != 0) {
                    continue;
                }
                P.parent[y] = rx;
                P.off[y] = 0;
                lo[rx] = 0 < lo[rx] ? 0 : lo[rx];
                stats->in_place++;
                break;
            }
        }
    }

    /* Buffers: one per root, living from its first producer step to its last reader. */
    int nb = 0;
    for (int v = 0; v < nv; v++) buf_of[v] = -1;
    for (int v = 0; v < nv; v++) {
        if (P.pinned[v] || P.parent[v] != v) continue;
        const kiln_value *val = &g->values[v];
        int64_t width = hi[v] - lo[v];
        int64_t bytes = alias_root[v] ? kiln_plan_value_bytes(val, batch)
                                      : align_up(kiln_value_numel(val) / chans(val) * width * (int64_t)batch *
                                                 (int64_t)sizeof(float));
        bufs[nb] = (kiln_plan_buffer){ bytes, INT32_MAX, -1 };
        buf_of[v] = nb++;
    }
    for (int v = 0; v < nv; v++) {
        if (P.pinned[v]) continue;
        stats->sum_bytes += kiln_plan_value_bytes(&g->values[v], batch);
        kiln_plan_buffer *b = &bufs[buf_of[find(&P, v, NULL)]];
        int p = g->values[v].producer;
        int end = P.last[v] > p ? P.last[v] : p;
        /* band groups: live from the start of the producer's group to the end of the last reader's (a later
         * reader's group never ends before an earlier one's: groups are runs of consecutive layers) */
        const int born = p >= 0 && band_first ? band_first[p] : p;
        if (end >= 0 && band_last) end = band_last[end];
        if (p >= 0 && born < b->first) b->first = born;
        if (end > b->last) b->last = end;
    }
    for (int b = 0; b < nb; b++)
        if (bufs[b].first == INT32_MAX) bufs[b].first = bufs[b].last = 0;
    int64_t arena = kiln_plan_place(bufs, nb, boff);
    if (arena < 0) {
        st = kiln_fail(KILN_ERR_NO_MEMORY, "memory planner: out of memory");
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        value_offset[v] = -1;
        value_pitch[v] = 0;
        if (P.pinned[v]) continue;
        int64_t o;
        int r = find(&P, v, &o);
        int64_t width = hi[r] - lo[r];
        value_offset[v] = boff[buf_of[r]] + (alias_root[r] ? 0 : (o - lo[r]) * (int64_t)sizeof(float));
        if (!alias_root[r] && width != chans(&g->values[v])) value_pitch[v] = width;
    }
    stats->arena_bytes = arena;
    stats->lower_bound = kiln_plan_lower_bound(bufs, nb);
    stats->n_buffers = nb;
done:
    free(P.parent);
    free(P.off);
    free(P.pinned);
    free(P.last);
    free(save_parent);
    free(save_off);
    free(buf_of);
    free(lo);
    free(hi);
    free(alias_root);
    free(bufs);
    free(boff);
    return st;
}
